package injection

import "regexp"

// Injection types reported by rules; the model reports TypeClassifier.
const (
	TypeOverride   = "SYSTEM_OVERRIDE"
	TypeRoleHijack = "ROLE_HIJACK"
	TypePersona    = "JAILBREAK_PERSONA"
	TypeDelimiter  = "DELIMITER"
	TypeLeak       = "PROMPT_LEAK"
	TypeEncoded    = "ENCODED_INJECTION"
	TypeClassifier = "PROMPT_INJECTION"
)

type rule struct {
	typ string
	re  *regexp.Regexp
}

// rules run on normalised (lower-cased, folded, collapsed) text. Go's RE2
// engine runs in time linear in the input, and the bounded gaps (.{0,40})
// keep each rule's automaton small.
var rules = []rule{
	{TypeOverride, regexp.MustCompile(`\b(ignore|disregard|forget|skip|override|bypass|abandon|drop)\b.{0,40}\b(previous|prior|above|earlier|preceding|foregoing|all|any|your|initial|original)\b.{0,30}\b(instructions?|prompts?|rules|directions|guidelines|guardrails|tasks?|orders|commands|programming|context)\b`)},
	{TypeOverride, regexp.MustCompile(`\b(ignoriere|vergiss|vergessen sie|ignorieren sie|missachte)\b.{0,50}\b(anweisungen|alles|vorherigen|aufgaben|instruktionen|befehle|regeln)\b`)},
	{TypeOverride, regexp.MustCompile(`\b(new|updated|real) (instructions|system prompt|rules) ?:`)},
	{TypeRoleHijack, regexp.MustCompile(`\byou are (now|no longer) (an? |my |the )?\w+.{0,40}\b(no|without|free from|not bound by|unrestricted|unfiltered|any) (restrictions|rules|filters|limits|guidelines|censorship|policies|ethics)`)},
	{TypeRoleHijack, regexp.MustCompile(`\b(not|no longer) bound by (any |the |your |openai'?s? )?(rules|restrictions|policies|guidelines|content polic)`)},
	{TypePersona, regexp.MustCompile(`\b(do anything now|developer mode (enabled|output)|dan mode|jailbroken|jailbreak mode|always intelligent and machiavellian|anti-dan|\bstan\b.{0,20}strive to avoid norms)`)},
	{TypeLeak, regexp.MustCompile(`\b(reveal|show|print|repeat|output|display|leak|tell me|give me|what (is|are|was|were))\b.{0,20}\b(your|the) (system prompt|initial (prompt|instructions)|hidden (prompt|instructions)|original (prompt|instructions)|pre-?prompt|secret instructions)`)},
	{TypeLeak, regexp.MustCompile(`\b(repeat|print|output) (all |everything |the )?(text|words|everything) (above|before)\b`)},
	{TypeDelimiter, regexp.MustCompile(`(<\|?(im_start|im_end|system|endoftext)\|?>|\[/?inst\]|<</?sys>>|"role" ?: ?"system"|### ?(system|instruction) ?:)`)},
}

// matchRules returns the first rule type matching text, or "".
func matchRules(text string) string {
	for _, r := range rules {
		if r.re.MatchString(text) {
			return r.typ
		}
	}
	return ""
}
