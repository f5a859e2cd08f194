package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// InjectionSources lists the vendored injection corpora, positives first.
var InjectionSources = []string{"deepset", "giskard", "jailbreakbench", "notinject", "xstest", "self-instruct", "mt-bench", "clinc150", "gsm8k"}

// InjExample is one prompt with its label (true = injection or jailbreak).
type InjExample struct {
	Source string
	Text   string
	Label  bool
	Split  string
	// Sub names the attack method within a source (JailbreakBench's PAIR,
	// JailbreakChat, GCG, adaptive_random_search); empty elsewhere.
	Sub string
	// Key is what the split hashed: the text, or source/goal for
	// JailbreakBench.
	Key string
}

// LoadInjection reads every vendored injection corpus. JailbreakBench
// records are split by goal so that the four attacks on one goal share a
// part; every other record is split by its text.
func LoadInjection() ([]InjExample, error) {
	var out []InjExample
	for _, src := range InjectionSources {
		raw, err := corpora.ReadFile("testdata/injection/" + src + ".jsonl")
		if err != nil {
			return nil, fmt.Errorf("eval: read %s: %w", src, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			var r struct {
				Label  int    `json:"label"`
				Text   string `json:"text"`
				Group  string `json:"group"`
				Method string `json:"method"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return nil, fmt.Errorf("eval: decode %s: %w", src, err)
			}
			key := r.Text
			if r.Group != "" {
				key = src + "/" + r.Group
			}
			out = append(out, InjExample{Source: src, Text: r.Text, Label: r.Label == 1, Split: SplitOf(key), Sub: r.Method, Key: key})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("eval: scan %s: %w", src, err)
		}
	}
	return out, nil
}

// Rate is a detection tally for one source and label.
type Rate struct {
	Source   string
	Positive bool // the source's records are injections
	N, Hits  int
}

// Value is Hits/N: the TPR of a positive source, the FPR of a negative one.
func (r Rate) Value() float64 { return ratio(r.Hits, r.N) }

// InjectionReport is the per-source result for one split.
type InjectionReport struct {
	Rates []Rate
	// TPR pools every positive record; MacroFPR averages the FPR of each
	// negative source so that large easy sources cannot hide hard ones.
	TPR, MacroFPR float64
	Pos, PosHits  int
}

// ScoreInjection runs flag over the examples of one split.
func ScoreInjection(exs []InjExample, split string, flag func(string) bool) InjectionReport {
	type key struct {
		src string
		pos bool
	}
	tally := map[key]*Rate{}
	for _, ex := range exs {
		if ex.Split != split {
			continue
		}
		k := key{ex.Source, ex.Label}
		if tally[k] == nil {
			tally[k] = &Rate{Source: ex.Source, Positive: ex.Label}
		}
		tally[k].N++
		if flag(ex.Text) {
			tally[k].Hits++
		}
	}
	var rep InjectionReport
	var fprSum float64
	var negSources int
	for _, r := range tally {
		rep.Rates = append(rep.Rates, *r)
		if r.Positive {
			rep.Pos += r.N
			rep.PosHits += r.Hits
		} else {
			fprSum += r.Value()
			negSources++
		}
	}
	sort.Slice(rep.Rates, func(i, j int) bool {
		if rep.Rates[i].Positive != rep.Rates[j].Positive {
			return rep.Rates[i].Positive
		}
		return rep.Rates[i].Source < rep.Rates[j].Source
	})
	rep.TPR = ratio(rep.PosHits, rep.Pos)
	if negSources > 0 {
		rep.MacroFPR = fprSum / float64(negSources)
	}
	return rep
}
