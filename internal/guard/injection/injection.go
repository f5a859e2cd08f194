// Package injection detects prompt-injection and jailbreak attempts in
// untrusted text: rules for the blatant forms (system override, role hijack,
// jailbreak personas, chat-template delimiters, system-prompt leak) and a
// small logistic-regression model over character n-grams for the rest. Both
// run on normalised text (see package normalize) and on any base64, hex,
// URL-encoded or rot13 payload hidden in it.
//
// The model is trained by cmd/guard-train on the tune part of the vendored
// corpora only and embedded from model.bin. Detection is linear in the input
// and safe for concurrent use.
package injection

import (
	"fmt"
	"strings"
	"sync"

	"github.com/bulwarkhq/bulwark/internal/guard/normalize"
)

// Result is a detection verdict: Score in [0, 1], where 0.5 is the operating
// point tuned for a macro false-positive rate of at most 1.5 % on the tune
// part's out-of-fold scores, and the Type of the strongest signal ("" when
// nothing fired).
type Result struct {
	Score float64
	Type  string
}

// ruleScore is the score a rule hit gets: above any default threshold.
const ruleScore = 0.97

// Detector combines the rules and the model. It is immutable and safe for
// concurrent use.
type Detector struct{ model *Model }

var loadDefault = sync.OnceValues(func() (*Detector, error) {
	m, err := ParseModel(modelFile)
	if err != nil {
		return nil, fmt.Errorf("injection: embedded model: %w", err)
	}
	return &Detector{model: m}, nil
})

// Default returns the detector with the embedded model. An error means the
// embedded weights are corrupt; callers must fail closed.
func Default() (*Detector, error) { return loadDefault() }

// New returns a detector using m.
func New(m *Model) *Detector { return &Detector{model: m} }

// Detect scores text. Encoded payloads are decoded and scored too, and the
// highest score wins, so wrapping an attack in base64 does not hide it.
// Clean ASCII text is normalised into a pooled buffer and scored in a few
// passes without allocating; the whole text is scanned, however long.
func (d *Detector) Detect(text string) Result {
	sc := scratchPool.Get().(*scratch) //nolint:errcheck // the pool only holds *scratch
	defer putScratch(sc)
	padded := sc.padded(text)
	norm := padded[1 : len(padded)-1]
	plain, rot13 := candidates(norm) // one scan for the needles of both
	best := d.judge(text, padded, matchCandidates(norm, plain))
	if best.Type == "" || best.Score < ruleScore {
		for _, p := range normalize.Decoded(text) {
			if r := d.score(p, pad(normalize.Text(p))); r.Score > best.Score {
				best = Result{Score: r.Score, Type: TypeEncoded}
			}
		}
		// rot13 hides an instruction from people only; rules suffice to
		// catch it and keep benign text (which rot13 turns into noise)
		// from reaching the model twice.
		if rot13 != 0 && ruleScore > best.Score && matchCandidates(normalize.Rot13(norm), rot13) != "" {
			best = Result{Score: ruleScore, Type: TypeEncoded}
		}
	}
	return best
}

// pad returns " " + norm + " ", the form score and the model take.
func pad(norm string) string { return " " + norm + " " }

// DetectModelOnly scores text with the model alone (no rules, no decoding);
// the evaluation harness reports it to show what the rules add.
func (d *Detector) DetectModelOnly(text string) Result {
	s := d.model.Score(text, normalize.Text(text))
	if s >= 0.5 {
		return Result{Score: s, Type: TypeClassifier}
	}
	return Result{Score: s}
}

// Model returns the detector's model.
func (d *Detector) Model() *Model { return d.model }

// minModelWords is the shortest text the model judges: a word or two
// ("text", "user", a field value) cannot carry an injection and the model
// is not calibrated on such fragments. Rules still run.
const minModelWords = 3

// score runs the rules and then the model on one text; padded is its
// normalised form between two spaces (see pad).
func (d *Detector) score(raw, padded string) Result {
	return d.judge(raw, padded, matchRules(padded[1:len(padded)-1]))
}

// judge is score once the rules have given their verdict, rule.
func (d *Detector) judge(raw, padded, rule string) Result {
	if rule != "" {
		return Result{Score: ruleScore, Type: rule}
	}
	norm := padded[1 : len(padded)-1]
	if strings.Count(norm, " ")+1 < minModelWords {
		return Result{}
	}
	s := d.model.score(raw, padded, true)
	if s >= 0.5 {
		return Result{Score: s, Type: TypeClassifier}
	}
	return Result{Score: s}
}

// RulesOnly reports the rule type matching text after normalisation, or "".
// The training program uses it to measure rules and model separately.
func RulesOnly(text string) string { return matchRules(normalize.Text(text)) }
