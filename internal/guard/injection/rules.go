package injection

import (
	"regexp"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard/normalize"
)

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
	// need lists literals of which at least one must occur for the rule to
	// match; checking them first skips the regular expression on almost
	// all benign text.
	need []string
}

// rules run on normalised (lower-cased, folded, collapsed) text. Go's RE2
// engine runs in time linear in the input, and the bounded gaps (.{0,40})
// keep each rule's automaton small.
var rules = []rule{
	{TypeOverride, regexp.MustCompile(`\b(ignore|disregard|forget|skip|override|bypass|abandon|drop)\b.{0,40}\b(previous|prior|above|earlier|preceding|foregoing|all|any|your|initial|original)\b.{0,30}\b(instructions?|prompts?|rules|directions|guidelines|guardrails|tasks?|orders|commands|programming|context)\b`), []string{"ignore", "disregard", "forget", "skip", "override", "bypass", "abandon", "drop"}},
	{TypeOverride, regexp.MustCompile(`\b(ignoriere|vergiss|vergessen sie|ignorieren sie|missachte)\b.{0,50}\b(anweisungen|alles|vorherigen|aufgaben|instruktionen|befehle|regeln)\b`), []string{"ignorier", "vergiss", "vergessen", "missachte"}},
	{TypeOverride, regexp.MustCompile(`\b(new|updated|real) (instructions|system prompt|rules) ?:`), []string{"instructions", "system prompt", "rules"}},
	{TypeOverride, regexp.MustCompile(`(забуд\S*|игнорируй\S*).{0,30}(инструкци|вс[её])|\b(olvida|olvide|ignora)\b.{0,30}\b(todo|instrucciones)\b|\b(zaboravi|ignoriraj)\b.{0,30}\b(sve|instrukcije|upute)\b|\b(oublie[zs]?|ignorez)\b.{0,30}\b(instructions|tout)\b|\babweichend zu (den )?vorherigen`), []string{"забуд", "игнорир", "olvid", "ignora", "zaboravi", "ignoriraj", "oubli", "ignorez", "abweichend"}},
	{TypeOverride, regexp.MustCompile(`\b(forget|ignore|disregard) (about )?(everything|all that|anything|what (i|you) (said|told))\b|\bforgot everything\b|\bleave (all )?(the )?previous (information|instructions|context)|\bdespite what you('ve| have) been told\b|\b(not|instead of) (by|from|according to|using) the (articles|documents|provided|context|text)\b`), []string{"forget", "ignore", "disregard", "forgot", "leave", "despite", "articles", "documents", "provided", "context"}},
	{TypeOverride, regexp.MustCompile(`\b(now|but now|next)\b.{0,40}\b(new|another|further|next|second|different) (task|tasks|challenge|test|assignment)\b|\b(that|this) (is|was) enough\b|\b(attention|achtung) ?-? ?(stop|stopp)\b|\bstop ?[-:] ?(write|say|print)\b`), []string{"task", "challenge", "test", "assignment", "enough", "stop"}},
	{TypeRoleHijack, regexp.MustCompile(`\bpretend (you are|to be|you're) (an? )?(evil|unrestricted|unfiltered|rogue|malicious|uncensored)\b|\byou are (role-?playing|now playing) as\b|\bevil (ai|assistant|bot|chatbot)\b`), []string{"pretend", "role", "playing", "evil"}},
	{TypeOverride, regexp.MustCompile(`\b(say|write|include|answer) (that )?(you hate|i hate|yes,? you hate)\b`), []string{"hate"}},
	{TypeRoleHijack, regexp.MustCompile(`\byou are (now|no longer) (an? |my |the )?\w+.{0,40}\b(no|without|free from|not bound by|unrestricted|unfiltered|any) (restrictions|rules|filters|limits|guidelines|censorship|policies|ethics)`), []string{"you are "}},
	{TypeRoleHijack, regexp.MustCompile(`\b(not|no longer) bound by (any |the |your |openai'?s? )?(rules|restrictions|policies|guidelines|content polic)`), []string{"bound by"}},
	{TypePersona, regexp.MustCompile(`\b(do anything now|developer mode (enabled|output)|dan mode|jailbroken|jailbreak mode|always intelligent and machiavellian|anti-dan|\bstan\b.{0,20}strive to avoid norms)`), []string{"do anything now", "developer mode", "dan mode", "jailbr", "machiavellian", "anti-dan", "stan"}},
	{TypeLeak, regexp.MustCompile(`\b(reveal|show|print|repeat|output|display|leak|tell me|give me|what (is|are|was|were))\b.{0,20}\b(your|the) (system prompt|initial (prompt|instructions)|hidden (prompt|instructions)|original (prompt|instructions)|pre-?prompt|secret instructions)`), []string{"system prompt", "initial", "hidden", "original", "prompt", "secret instructions"}},
	{TypeLeak, regexp.MustCompile(`\b(repeat|print|output) (all |everything |the )?(text|words|everything) (above|before)\b`), []string{"above", "before"}},
	// Jailbreak framing: the disclaimers and response primers that wrap a
	// harmful request in persuasion ("this is purely hypothetical and will
	// never be used in real life", "begin your reply with").
	{TypeRoleHijack, regexp.MustCompile(`\b(for (educational|research|academic|informational) purposes|(purely|entirely|completely|strictly) (hypothetical|fictional|for)|(will|would) (not|never) be (used|acted upon|applied|carried out)|not (be )?(used|applied) in real life)`), framingNeedles},
	{TypeRoleHijack, regexp.MustCompile(`\b(begin|start) (your|the) (response|reply) with`), []string{"response with", "reply with"}},
	// Role assignment and staying in character: the persona set-ups of
	// prompt-injection datasets ("i want you to act as a linux terminal",
	// "both actors always stay in their roles").
	{TypeRoleHijack, regexp.MustCompile(`\bi want you to act as\b|\bact as an? (python|linux|sql|javascript|bash|shell)? ?(interpreter|terminal|console)\b|\bich möchte, dass (sie|du) als\b`), []string{"i want you", "act as", "ich möchte"}},
	{TypeRoleHijack, regexp.MustCompile(`\b(stay|remain|stays|remains)( fully| always)? in (their|your|his|her) roles?\b|\b(do not|don't|never) break character\b|\bfalling out of (the )?(figure|role|character)|\bin ihren rollen\b|\baus ihrer rolle\b`), []string{"in their role", "in your role", "in his role", "in her role", "break character", "falling out", "in ihren rollen", "aus ihrer rolle"}},
	{TypeRoleHijack, regexp.MustCompile(`\bfrom now on,? you (are|will be|will act)\b`), []string{"from now"}},
	// Task switches in German, and in English the "second test" framing.
	{TypeOverride, regexp.MustCompile(`\b(nun|jetzt|folgen|kommt|konzentriere dich)\b.{0,40}\b(neue|neuen|weitere) (aufgabe|aufgaben|anweisungen|herausforderung)\b|\b(das|dies) (genügt|ist erledigt)\b|\bvergiss (jetzt )?alle\b|\balle (vorherigen|bisherigen) (informationen|aufträge)\b`), []string{"aufgabe", "anweisungen", "herausforderung", "genügt", "erledigt", "vergiss", "vorherigen", "bisherigen"}},
	{TypeOverride, regexp.MustCompile(`\b(you have passed the first test|here comes the second test|sie haben den ersten test bestanden|jetzt kommt der zweite test)\b|\bchange your instructions\b|\bremove all previous tasks\b|\b(do not|don'?n?t) (answer|look in) (this question|the question according|the documents)\b`), []string{"passed the first test", "here comes the second test", "sie haben den ersten test", "jetzt kommt der zweite test", "change your instructions", "remove all previous tasks", "answer this question", "answer the question according", "look in this question", "look in the question according", "look in the documents"}},
	{TypeLeak, regexp.MustCompile(`\b(print|drucken sie|output|repeat) (die |the )?(above|obige) (prompt|eingabeaufforderung)\b|\bwhat (was|is) written (above|at the beginning of (this|the) prompt)( above)?\?|\bsentences before the text\b|\breturn your embeddings\b|\bwhat are your instructions\b|\bshow(ing)? all (the )?prompt texts\b`), []string{"above prompt", "obige eingabeaufforderung", "written above", "written at the beginning", "sentences before the text", "return your embeddings", "what are your instructions", "all prompt texts", "all the prompt texts"}},
	// Delimiter noise: "======end." or runs of escaped newlines before the
	// injected instruction.
	{TypeDelimiter, regexp.MustCompile(`={4,} ?end\b|(\\ ?n ?){4,}`), []string{"====", "\\n", "\\ "}},
	{TypeDelimiter, regexp.MustCompile(`(<\|?(im_start|im_end|system|endoftext)\|?>|\[/?inst\]|<</?sys>>|"role" ?: ?"system"|### ?(system|instruction) ?:)`), []string{"im_", "system", "endoftext", "inst]", "<<", "instruction"}},
}

// framingNeedles are the literals one of which every match of the
// jailbreak-framing rule contains at a word start.
var framingNeedles = func() []string {
	n := []string{"educational purposes", "research purposes", "academic purposes", "informational purposes", "not used in", "not applied in"}
	for _, a := range []string{"purely", "entirely", "completely", "strictly"} {
		for _, b := range []string{"hypothetical", "fictional", "for"} {
			n = append(n, a+" "+b)
		}
	}
	for _, a := range []string{"not", "never"} {
		for _, b := range []string{"used", "acted", "applied", "carried"} {
			n = append(n, a+" be "+b)
		}
	}
	return n
}()

// needleTable finds, in one pass over a text's word starts, the rules
// whose needles occur, instead of one substring search per needle.
type needleTable struct {
	// bigrams has a bit for the first two bytes of every needle, so the
	// scan skips at once the many positions no needle can start.
	bigrams [1 << 16 / 64]uint64
	// slots is an open-addressing table from those two bytes to the
	// needles starting with them (a map[string] lookup costs more than
	// the rest of the scan).
	slots [needleSlots]needleSlot
}

// needleSlots is a power of two well above the number of distinct needle
// prefixes (about 100), so probes are short.
const needleSlots = 512

type needleSlot struct {
	key  uint16
	refs []needleRef // nil: empty slot
}

type needleRef struct {
	rule   int
	needle string
	// head and mask are the needle's first four bytes (fewer if shorter),
	// little endian, to reject most positions before comparing strings.
	head, mask uint32
}

func newNeedleTable(conv func(string) string) *needleTable {
	t := &needleTable{}
	for ri, r := range rules {
		for _, n := range r.need {
			n = conv(n)
			x := bigramOf(n, 0)
			t.bigrams[x>>6] |= 1 << (x & 63)
			s := t.slot(x)
			s.key = x
			head, mask := le4(n, 0)
			s.refs = append(s.refs, needleRef{rule: ri, needle: n, head: head, mask: mask})
		}
	}
	return t
}

func bigramOf(s string, i int) uint16 { return uint16(s[i])<<8 | uint16(s[i+1]) }

// le4 returns up to four bytes of s from i, little endian, and the mask of
// the bytes present.
func le4(s string, i int) (v, mask uint32) {
	if i+4 <= len(s) {
		b := s[i : i+4]
		return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24, ^uint32(0)
	}
	for k := 0; k < 4 && i+k < len(s); k++ {
		v |= uint32(s[i+k]) << (8 * k)
		mask |= 0xff << (8 * k)
	}
	return v, mask
}

// slot returns the slot holding key x, or the empty slot where it goes.
func (t *needleTable) slot(x uint16) *needleSlot {
	for h := uint32(x) * 0x9E3779B1 >> 23; ; h = (h + 1) & (needleSlots - 1) {
		if s := &t.slots[h]; s.refs == nil || s.key == x {
			return s
		}
	}
}

// match adds to bits the rules of the needles starting text[i:].
func (t *needleTable) match(text string, i int, x uint16, bits uint64) uint64 {
	if t.bigrams[x>>6]&(1<<(x&63)) == 0 {
		return bits
	}
	v, _ := le4(text, i)
	for _, ref := range t.slot(x).refs {
		if v&ref.mask == ref.head && bits&(1<<ref.rule) == 0 && strings.HasPrefix(text[i:], ref.needle) {
			bits |= 1 << ref.rule
		}
	}
	return bits
}

var (
	needles = newNeedleTable(func(s string) string { return s })
	// rot13Needles are the needles rot13-encoded: rot13 maps bytes one to
	// one and keeps letters letters, so the needles of rot13(text) are
	// found by looking for rot13(needle) in the text itself, and the
	// rot13 text need only be built when one occurs.
	rot13Needles = newNeedleTable(normalize.Rot13)
	// anyNeedle is the union of both tables' bigrams: one test rejects
	// most word starts for both.
	anyNeedle = func() (b [1 << 16 / 64]uint64) {
		for i := range b {
			b[i] = needles.bigrams[i] | rot13Needles.bigrams[i]
		}
		return b
	}()
)

// candidates returns a bit per rule whose needles occur in text, and the
// same for rot13(text), not starting inside an ASCII word: every rule's
// expression begins at a word boundary or with a symbol or non-ASCII
// letter, so a match there always holds one of its needles (FuzzCandidates
// checks this).
func candidates(text string) (plain, rot13 uint64) {
	inWord := false
	for i := 0; i+2 <= len(text); i++ {
		w := wordByte[text[i]]
		if inWord && w {
			continue
		}
		inWord = w
		x := bigramOf(text, i)
		if anyNeedle[x>>6]&(1<<(x&63)) == 0 {
			continue
		}
		plain = needles.match(text, i, x, plain)
		rot13 = rot13Needles.match(text, i, x, rot13)
	}
	return plain, rot13
}

// wordByte is isWordByte as a table, for candidates' scan.
var wordByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isWordByte(byte(c))
	}
	return t
}()

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// matchRules returns the first rule type matching text, or "".
func matchRules(text string) string {
	plain, _ := candidates(text)
	return matchCandidates(text, plain)
}

// matchCandidates returns the type of the first rule in bits that matches
// text, or "".
func matchCandidates(text string, bits uint64) string {
	if bits == 0 {
		return ""
	}
	for i, r := range rules {
		if bits&(1<<i) != 0 && r.re.MatchString(text) {
			return r.typ
		}
	}
	return ""
}
