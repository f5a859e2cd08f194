package pii

// This file holds the check-digit and structure rules that turn a digit run
// into a claim. Every validator takes only ASCII digits (or, for IBAN,
// upper-case alphanumerics) already stripped of separators.

// Luhn reports whether digits pass the Luhn (mod 10) check used by payment
// cards. digits must contain only '0'..'9'.
func Luhn(digits string) bool {
	if len(digits) == 0 {
		return false
	}
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// cardIssuer returns the issuer whose prefix and length rules digits meet,
// or "" if none does. Lengths follow the issuers' published ranges.
func cardIssuer(digits string) string {
	n := len(digits)
	p := func(k int) int { // numeric value of the first k digits
		v := 0
		for i := 0; i < k && i < n; i++ {
			v = v*10 + int(digits[i]-'0')
		}
		return v
	}
	switch {
	case digits[0] == '4' && (n == 13 || n == 16 || n == 19):
		return "visa"
	case (p(2) >= 51 && p(2) <= 55 || p(4) >= 2221 && p(4) <= 2720) && n == 16:
		return "mastercard"
	case (p(2) == 34 || p(2) == 37) && n == 15:
		return "amex"
	case (p(3) >= 300 && p(3) <= 305 || p(2) == 36 || p(2) == 38 || p(2) == 39) && n >= 14 && n <= 19:
		return "diners"
	case (p(4) == 6011 || p(3) >= 644 && p(3) <= 649 || p(2) == 65 || p(6) >= 622126 && p(6) <= 622925) && n >= 16 && n <= 19:
		return "discover"
	case p(2) == 35 && n >= 16 && n <= 19: // JCB's 3528-3589, widened to the whole unassigned 35 block
		return "jcb"
	case (p(4) == 2131 || p(4) == 1800) && n == 15:
		return "jcb"
	case p(2) == 62 && n >= 16 && n <= 19:
		return "unionpay"
	case (p(2) == 50 || p(2) >= 56 && p(2) <= 69) && n >= 12 && n <= 19:
		return "maestro"
	}
	return ""
}

// ValidCard reports whether digits is a payment card number: 12 to 19
// digits, a known issuer prefix for that length, and a valid Luhn check.
func ValidCard(digits string) bool {
	if len(digits) < 12 || len(digits) > 19 || !allDigits(digits) {
		return false
	}
	return cardIssuer(digits) != "" && Luhn(digits)
}

// ValidSSN reports whether a 9-digit string follows the US SSN allocation
// rules: area not 000, 666 or 900-999; group not 00; serial not 0000.
func ValidSSN(digits string) bool {
	if len(digits) != 9 || !allDigits(digits) {
		return false
	}
	area, group, serial := digits[:3], digits[3:5], digits[5:]
	if area == "000" || area == "666" || area[0] == '9' {
		return false
	}
	return group != "00" && serial != "0000"
}

// ValidCPF reports whether an 11-digit string carries valid Brazilian CPF
// check digits. Repeated-digit numbers (111.111.111-11) are rejected: they
// pass the arithmetic but are never issued.
func ValidCPF(digits string) bool {
	if len(digits) != 11 || !allDigits(digits) || repeated(digits) {
		return false
	}
	for k := 9; k <= 10; k++ {
		sum := 0
		for i := 0; i < k; i++ {
			sum += int(digits[i]-'0') * (k + 1 - i)
		}
		d := (sum * 10) % 11
		if d == 10 {
			d = 0
		}
		if d != int(digits[k]-'0') {
			return false
		}
	}
	return true
}

// ValidCNPJ reports whether a 14-digit string carries valid Brazilian CNPJ
// check digits.
func ValidCNPJ(digits string) bool {
	if len(digits) != 14 || !allDigits(digits) || repeated(digits) {
		return false
	}
	w1 := []int{5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
	w2 := []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
	for k, w := range [][]int{w1, w2} {
		sum := 0
		for i, wi := range w {
			sum += int(digits[i]-'0') * wi
		}
		d := sum % 11
		if d < 2 {
			d = 0
		} else {
			d = 11 - d
		}
		if d != int(digits[12+k]-'0') {
			return false
		}
	}
	return true
}

// ibanLengths is the total IBAN length per country (SWIFT IBAN registry).
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16,
	"BG": 22, "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22,
	"CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20,
	"EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22,
	"GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
	"IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30,
	"KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
	"LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
	"MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
	"SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
	"SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29,
	"VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// ValidIBAN reports whether s (upper-case letters and digits, no spaces) is
// an IBAN: a known country, that country's exact length, two check digits
// and a remainder of 1 under ISO 7064 mod 97-10.
func ValidIBAN(s string) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	want, ok := ibanLengths[s[:2]]
	if !ok || want != len(s) || !isDigit(s[2]) || !isDigit(s[3]) {
		return false
	}
	rem := 0
	add := func(c byte) bool {
		switch {
		case isDigit(c):
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
		return true
	}
	for i := 4; i < len(s); i++ {
		if !add(s[i]) {
			return false
		}
	}
	for i := 0; i < 4; i++ {
		if !add(s[i]) {
			return false
		}
	}
	return rem == 1
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return len(s) > 0
}

func repeated(s string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] != s[0] {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
