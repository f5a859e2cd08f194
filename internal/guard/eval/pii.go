package eval

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// PIIExample is one presidio-research sentence with its gold spans converted
// to byte offsets.
type PIIExample struct {
	Text  string
	Spans []span.Span // Family pii; Type in Bulwark's names where mapped
	Split string
}

// presidioTypes maps presidio-research entity names to Bulwark's. Types not
// listed (PERSON, GPE, DATE_TIME, ...) are kept under their presidio name:
// Bulwark does not claim them, and a detection overlapping one is scored as
// a false positive of the detected type.
var presidioTypes = map[string]string{
	"EMAIL_ADDRESS":  "EMAIL",
	"PHONE_NUMBER":   "PHONE",
	"CREDIT_CARD":    "CREDIT_CARD",
	"IBAN_CODE":      "IBAN",
	"US_SSN":         "US_SSN",
	"IP_ADDRESS":     "IP_ADDRESS",
	"STREET_ADDRESS": "ADDRESS",
	"PERSON":         "PERSON",
}

// LoadPII reads the presidio-research synthetic set. Its offsets are
// Unicode code-point indices; they are converted to byte offsets here and
// each converted span is checked against the stored entity value.
func LoadPII() ([]PIIExample, error) {
	raw, err := corpora.ReadFile("testdata/pii/synth_dataset_v2.json")
	if err != nil {
		return nil, fmt.Errorf("eval: read presidio set: %w", err)
	}
	var recs []struct {
		FullText string `json:"full_text"`
		Spans    []struct {
			Type  string `json:"entity_type"`
			Value string `json:"entity_value"`
			Start int    `json:"start_position"`
			End   int    `json:"end_position"`
		} `json:"spans"`
	}
	if err := json.Unmarshal(raw, &recs); err != nil {
		return nil, fmt.Errorf("eval: decode presidio set: %w", err)
	}
	out := make([]PIIExample, 0, len(recs))
	for i, r := range recs {
		offs := runeOffsets(r.FullText)
		ex := PIIExample{Text: r.FullText, Split: SplitOf(r.FullText)}
		for _, s := range r.Spans {
			if s.Start < 0 || s.End >= len(offs) || s.Start > s.End {
				return nil, fmt.Errorf("eval: record %d: span out of range", i)
			}
			b, e := offs[s.Start], offs[s.End]
			if r.FullText[b:e] != s.Value {
				return nil, fmt.Errorf("eval: record %d: span does not match its value", i)
			}
			typ := s.Type
			if m, ok := presidioTypes[typ]; ok {
				typ = m
			}
			ex.Spans = append(ex.Spans, span.Span{Family: span.FamilyPII, Type: typ, Start: b, End: e, Confidence: 1})
		}
		out = append(out, ex)
	}
	return out, nil
}

// runeOffsets returns the byte offset of every code point index, plus one
// past the end.
func runeOffsets(s string) []int {
	offs := make([]int, 0, len(s)+1)
	for i := range s {
		offs = append(offs, i)
	}
	return append(offs, len(s))
}

// PRF is a precision/recall/F1 tally for one entity type.
type PRF struct {
	Type       string
	Gold, Pred int
	TP         int
}

// Precision is TP / predictions (1 when nothing was predicted).
func (p PRF) Precision() float64 { return ratio(p.TP, p.Pred) }

// Recall is TP / gold spans (1 when there were none).
func (p PRF) Recall() float64 { return ratio(p.TP, p.Gold) }

// F1 is the harmonic mean of precision and recall.
func (p PRF) F1() float64 {
	pr, rc := p.Precision(), p.Recall()
	if pr+rc == 0 {
		return 0
	}
	return 2 * pr * rc / (pr + rc)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// ScorePII runs detect over the examples of one split and scores by type. A
// prediction is a true positive when it overlaps an unmatched gold span of
// the same type; each gold span matches at most one prediction. A span of
// confidence 0 is no prediction: no policy threshold keeps it (see
// pii.Detect).
func ScorePII(exs []PIIExample, split string, detect func(string) []span.Span) []PRF {
	tally := map[string]*PRF{}
	get := func(t string) *PRF {
		if tally[t] == nil {
			tally[t] = &PRF{Type: t}
		}
		return tally[t]
	}
	for _, ex := range exs {
		if ex.Split != split {
			continue
		}
		for _, g := range ex.Spans {
			get(g.Type).Gold++
		}
		used := make([]bool, len(ex.Spans))
		for _, p := range detect(ex.Text) {
			if p.Confidence == 0 {
				continue
			}
			get(p.Type).Pred++
			for k, g := range ex.Spans {
				if !used[k] && g.Type == p.Type && p.Start < g.End && g.Start < p.End {
					used[k] = true
					get(p.Type).TP++
					break
				}
			}
		}
	}
	out := make([]PRF, 0, len(tally))
	for _, v := range tally {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}
