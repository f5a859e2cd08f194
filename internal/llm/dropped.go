package llm

import (
	"errors"
	"slices"
	"strings"
)

// Stable names of features an encoder may drop, for the x-bulwark-dropped
// header, metrics labels and strict-mode errors.
const (
	FeatureCacheControl     = "cache_control"
	FeatureThinking         = "thinking"
	FeatureReasoningEffort  = "reasoning_effort"
	FeatureTopK             = "top_k"
	FeatureTopP             = "top_p"
	FeatureTemperature      = "temperature"
	FeatureSeed             = "seed"
	FeaturePresencePenalty  = "presence_penalty"
	FeatureFrequencyPenalty = "frequency_penalty"
	FeatureResponseFormat   = "response_format"
	FeatureMetadata         = "metadata"
	FeatureUser             = "user"
	FeatureDocument         = "document"
	FeatureImageURL         = "image_url"
	FeatureParallelToolUse  = "disable_parallel_tool_use"
	FeatureToolResultImage  = "tool_result_image"
	FeatureStopSequences    = "stop_sequences"
)

// ErrStrict is matched (errors.Is) by the error Dropped.Strict returns.
var ErrStrict = errors.New("feature not supported by the upstream")

// ErrMalformed is wrapped by every decoder error: the input is not a valid
// request, response or stream event of the dialect. Gateways answer 400.
var ErrMalformed = errors.New("malformed body")

// StrictError names the first feature a strict request could not carry. Its
// message is safe to show to clients.
type StrictError struct {
	Feature string
}

// Error names the feature; the text is meant for the client's 400 body.
func (e *StrictError) Error() string {
	return "bulwark strict mode: feature " + e.Feature + " cannot be carried to this upstream"
}

// Is makes errors.Is(err, ErrStrict) true.
func (e *StrictError) Is(target error) bool { return target == ErrStrict }

// Dropped lists, sorted and without duplicates, the names of the features an
// encoder had to leave out.
type Dropped []string

// Add records a dropped feature once, keeping the list sorted.
func (d *Dropped) Add(feature string) {
	i, found := slices.BinarySearch(*d, feature)
	if !found {
		*d = slices.Insert(*d, i, feature)
	}
}

// Header renders the list for the x-bulwark-dropped response header.
func (d Dropped) Header() string { return strings.Join(d, ",") }

// Strict returns a *StrictError naming the first dropped feature, or nil
// when nothing was dropped. Gateways call it when x-bulwark-strict is true.
func (d Dropped) Strict() error {
	if len(d) == 0 {
		return nil
	}
	return &StrictError{Feature: d[0]}
}
