package secondopinion

// ValidID reports whether s is a UUID in its canonical lower-case form (36 characters, hex
// digits, dashes at 8, 13, 18 and 23), the only form this service prints: the ids of cases, documents, accounts,
// invitations and extras. Check an id from a request before it reaches SQL, and answer a bad
// one exactly as a missing one (ErrNotFound).
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		default:
			return false
		}
	}
	return true
}
