package access

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// RFC 6238 Appendix B, the SHA-1 rows: the 20-byte ASCII secret "12345678901234567890".
var rfc6238 = []struct {
	unix  int64
	step  uint64
	code8 string
}{
	{59, 0x1, "94287082"},
	{1111111109, 0x23523EC, "07081804"},
	{1111111111, 0x23523ED, "14050471"},
	{1234567890, 0x273EF07, "89005924"},
	{2000000000, 0x3F940AA, "69279037"},
	{20000000000, 0x27BC86AA, "65353130"},
}

func TestTOTPVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, v := range rfc6238 {
		now := time.Unix(v.unix, 0)
		if got := uint64(totpStep(now)); got != v.step {
			t.Errorf("T=%d: step %#x, want %#x", v.unix, got, v.step)
		}
		if got := hotp(secret, v.step, 8); got != v.code8 {
			t.Errorf("T=%d: 8-digit code %s, want %s", v.unix, got, v.code8)
		}
		// Six digits are the same truncated value modulo 10^6.
		code6 := v.code8[2:]
		if got := hotp(secret, v.step, 6); got != code6 {
			t.Errorf("T=%d: 6-digit code %s, want %s", v.unix, got, code6)
		}
		step, ok := verifyTOTP(secret, code6, now, -1)
		if !ok || uint64(step) != v.step {
			t.Errorf("T=%d: verify = %d, %v; want %d, true", v.unix, step, ok, v.step)
		}
	}
}

func TestTOTPWindowAndReuse(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0) // step 0x23523ED
	cur := totpStep(now)
	code := func(step int64) string { return hotp(secret, uint64(step), 6) }
	tests := []struct {
		name     string
		code     string
		lastStep int64
		ok       bool
		step     int64
	}{
		{"current", code(cur), -1, true, cur},
		{"previous step", code(cur - 1), -1, true, cur - 1},
		{"next step", code(cur + 1), -1, true, cur + 1},
		{"two steps old", code(cur - 2), -1, false, 0},
		{"two steps ahead", code(cur + 2), -1, false, 0},
		{"same step again", code(cur), cur, false, 0},
		{"older than the last accepted", code(cur - 1), cur, false, 0},
		{"after the last accepted", code(cur + 1), cur, true, cur + 1},
		{"spaces ignored", code(cur)[:3] + " " + code(cur)[3:], -1, true, cur},
		{"five digits", code(cur)[:5], -1, false, 0},
		{"letters", "12a456", -1, false, 0},
		{"empty", "", -1, false, 0},
		{"seven digits", code(cur) + "1", -1, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := verifyTOTP(secret, tt.code, now, tt.lastStep)
			if ok != tt.ok || step != tt.step {
				t.Errorf("verifyTOTP(%q, last %d) = %d, %v; want %d, %v", tt.code, tt.lastStep, step, ok, tt.step, tt.ok)
			}
		})
	}
}

func TestTOTPURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	u, err := url.Parse(totpURI("secondopinion", "cm@example.org", secret))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/secondopinion:cm@example.org" {
		t.Errorf("URI %s: wrong scheme, type or label", u)
	}
	q := u.Query()
	want := map[string]string{"secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "issuer": "secondopinion",
		"algorithm": "SHA1", "digits": "6", "period": "30"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
}

func FuzzTOTPCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", " 123456 ", "12345", "1234567", "١٢٣٤٥٦", "12\x00456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := parseTOTPCode(s)
		if !ok {
			return
		}
		if len(c) != 6 || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("parseTOTPCode(%q) accepted %q", s, c)
		}
	})
}
