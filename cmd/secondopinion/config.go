package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/internal/workdays"
	"github.com/secondopinion/secondopinion/retention"
	"github.com/secondopinion/secondopinion/vault"
)

// Config is the whole configuration, read from SO_* environment variables.
// Every secret may instead be given as NAME_FILE naming a file that holds it.
// The README documents each variable with its default; keep the two in step.
type Config struct {
	ListenAddr       string         // SO_LISTEN_ADDR
	PublicURL        string         // SO_PUBLIC_URL
	DatabaseURL      string         // SO_DATABASE_URL (secret): the runtime role
	DatabaseOwnerURL string         // SO_DATABASE_OWNER_URL (secret): the migration owner
	AutoMigrate      bool           // SO_AUTO_MIGRATE: serve applies pending migrations (needs the owner URL)
	MinIOEndpoint    string         // SO_MINIO_ENDPOINT host:port
	MinIOAccessKey   string         // SO_MINIO_ACCESS_KEY (secret)
	MinIOSecretKey   string         // SO_MINIO_SECRET_KEY (secret)
	MinIOBucket      string         // SO_MINIO_BUCKET
	MinIOCheckpoints string         // SO_MINIO_CHECKPOINT_BUCKET: the audit checkpoints' copies (object locking)
	MinIOSecure      bool           // SO_MINIO_SECURE
	KEKFiles         []string       // SO_KEK_FILES comma-separated age identity files, oldest first
	CheckpointKey    string         // SO_CHECKPOINT_KEY_FILE: the audit checkpoint signing key file
	TOTPKeyFile      string         // SO_TOTP_KEY_FILE: 64 hex characters sealing TOTP secrets at rest
	SMTPURL          string         // SO_SMTP_URL (secret)
	TrustedProxies   []string       // SO_TRUSTED_PROXIES: addresses or CIDRs whose X-Forwarded-For is believed
	LogLevel         string         // SO_LOG_LEVEL
	ShutdownTimeout  time.Duration  // SO_SHUTDOWN_TIMEOUT
	UploadExpiry     time.Duration  // SO_UPLOAD_EXPIRY
	UploadMemoryMiB  int            // SO_UPLOAD_MEMORY_MIB
	DocumentCacheMiB int            // SO_DOCUMENT_CACHE_MIB: small documents' ciphertext kept by the key cache; 0: none
	Holidays         string         // SO_HOLIDAYS: the centre's holiday calendar (workdays.Parse)
	TimeZone         *time.Location // SO_TIMEZONE: the centre's time zone, for working days and mails
	Calendar         *workdays.Calendar
	Prices           cases.Prices    // SO_CURRENCY and SO_PRICE_*
	StaffLanguage    so.Language     // SO_STAFF_LANGUAGE: the language of mails to staff
	Retention        retention.Rules // SO_RETENTION: retention periods per case state (retention.ParseRules)
	TokenRoles       []so.Role       // SO_TOKEN_ROLES: the roles that may hold API tokens
}

// priceVars are the price variables, each setting one price over cases.DefaultPrices.
var priceVars = []struct {
	name string
	set  func(p *cases.Prices, cents int64)
}{
	{"SO_PRICE_SECOND_OPINION", func(p *cases.Prices, v int64) { p.SecondOpinion = v }},
	{"SO_PRICE_UPDATE", func(p *cases.Prices, v int64) { p.Update = v }},
	{"SO_PRICE_COURIER", func(p *cases.Prices, v int64) { p.Courier = v }},
	{"SO_PRICE_SLIDE_REVIEW", func(p *cases.Prices, v int64) { p.Extras[so.ExtraSlideReview] = v }},
	{"SO_PRICE_IMAGING_REREAD", func(p *cases.Prices, v int64) { p.Extras[so.ExtraImagingReread] = v }},
	{"SO_PRICE_IN_DEPTH", func(p *cases.Prices, v int64) { p.Extras[so.ExtraInDepth] = v }},
	{"SO_PRICE_MULTIDISCIPLINARY", func(p *cases.Prices, v int64) { p.Extras[so.ExtraMultidisciplinary] = v }},
}

// readPrices reads SO_CURRENCY and the SO_PRICE_* amounts over the defaults.
func (r *envReader) readPrices() cases.Prices {
	p := cases.DefaultPrices()
	cur := r.str("SO_CURRENCY", p.Currency)
	if len(cur) != 3 || strings.ToUpper(cur) != cur {
		r.fail("SO_CURRENCY", "%q is not a three-letter ISO 4217 code such as EUR", cur)
	}
	p.Currency = cur
	for _, v := range priceVars {
		if s := r.str(v.name, ""); s != "" {
			cents, err := cases.ParseAmount(s)
			if err != nil {
				r.fail(v.name, "%q is not an amount such as 500.00", s)
			}
			v.set(&p, cents)
		}
	}
	return p
}

// secrets may be given as NAME_FILE.
var secrets = map[string]bool{
	"SO_DATABASE_URL": true, "SO_DATABASE_OWNER_URL": true,
	"SO_MINIO_ACCESS_KEY": true, "SO_MINIO_SECRET_KEY": true, "SO_SMTP_URL": true,
	"SO_MINIO_ROOT_USER": true, "SO_MINIO_ROOT_PASSWORD": true, // storage setup only
}

// ConfigError names the variable that is wrong.
type ConfigError struct {
	Var    string
	Reason string
}

func (e *ConfigError) Error() string { return "config: " + e.Var + ": " + e.Reason }

type envReader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (r *envReader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, &ConfigError{Var: name, Reason: fmt.Sprintf(format, args...)})
}

func (r *envReader) str(name, def string) string {
	v, ok := r.lookup(name)
	if secrets[name] {
		f, fok := r.lookup(name + "_FILE")
		switch {
		case ok && fok && v != "" && f != "":
			r.fail(name, "set both %s and %s_FILE; set one", name, name)
			return ""
		case fok && f != "":
			b, err := os.ReadFile(f) // #nosec G304 -- the --env-file named by the operator
			if err != nil {
				r.fail(name+"_FILE", "cannot read the file it names: %v", errors.Unwrap(err))
				return ""
			}
			return strings.TrimRight(string(b), "\r\n")
		}
	}
	if !ok || v == "" {
		return def
	}
	return v
}

func (r *envReader) boolean(name string, def bool) bool {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		r.fail(name, "%q is not true or false", s)
	}
	return b
}

func (r *envReader) duration(name string, def time.Duration) time.Duration {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.fail(name, "%q is not a positive duration such as 30s or 12h", s)
	}
	return d
}

func (r *envReader) positiveInt(name string, def int) int { return r.intAtLeast(name, def, 1) }

func (r *envReader) nonNegativeInt(name string, def int) int { return r.intAtLeast(name, def, 0) }

// intAtLeast reads a whole number of at least least, def when unset.
func (r *envReader) intAtLeast(name string, def, least int) int {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		r.fail(name, "%q is not a whole number of %d or more", s, least)
	}
	return n
}

// LoadConfig reads the configuration through lookup (os.LookupEnv in production) and
// validates it. The error names every variable that is wrong.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	r := &envReader{lookup: lookup}
	c := Config{
		ListenAddr:       r.str("SO_LISTEN_ADDR", "127.0.0.1:8080"),
		PublicURL:        r.str("SO_PUBLIC_URL", "http://127.0.0.1:8080"),
		DatabaseURL:      r.str("SO_DATABASE_URL", ""),
		DatabaseOwnerURL: r.str("SO_DATABASE_OWNER_URL", ""),
		AutoMigrate:      r.boolean("SO_AUTO_MIGRATE", false),
		MinIOEndpoint:    r.str("SO_MINIO_ENDPOINT", ""),
		MinIOAccessKey:   r.str("SO_MINIO_ACCESS_KEY", ""),
		MinIOSecretKey:   r.str("SO_MINIO_SECRET_KEY", ""),
		MinIOBucket:      r.str("SO_MINIO_BUCKET", "secondopinion"),
		MinIOCheckpoints: r.str("SO_MINIO_CHECKPOINT_BUCKET", "secondopinion-audit"),
		MinIOSecure:      r.boolean("SO_MINIO_SECURE", false),
		CheckpointKey:    r.str("SO_CHECKPOINT_KEY_FILE", ""),
		TOTPKeyFile:      r.str("SO_TOTP_KEY_FILE", ""),
		SMTPURL:          r.str("SO_SMTP_URL", ""),
		LogLevel:         r.str("SO_LOG_LEVEL", "info"),
		ShutdownTimeout:  r.duration("SO_SHUTDOWN_TIMEOUT", 30*time.Second),
		UploadExpiry:     r.duration("SO_UPLOAD_EXPIRY", 12*time.Hour),
		UploadMemoryMiB:  r.positiveInt("SO_UPLOAD_MEMORY_MIB", 1024),
		DocumentCacheMiB: r.nonNegativeInt("SO_DOCUMENT_CACHE_MIB", vault.DefaultKeyCacheBytes>>20),
		Holidays:         r.str("SO_HOLIDAYS", "IT"),
	}
	c.Prices = r.readPrices()
	c.StaffLanguage = so.Language(r.str("SO_STAFF_LANGUAGE", "en"))
	if !c.StaffLanguage.Valid() {
		r.fail("SO_STAFF_LANGUAGE", "%q is not en, it or es", c.StaffLanguage)
	}
	tz := r.str("SO_TIMEZONE", "Europe/Rome")
	var err error
	if c.TimeZone, err = time.LoadLocation(tz); err != nil || tz == "Local" {
		r.fail("SO_TIMEZONE", "%q is not an IANA time zone such as Europe/Rome", tz)
		c.TimeZone = time.UTC
	}
	if c.Calendar, err = workdays.Parse(c.Holidays, c.TimeZone); err != nil {
		r.fail("SO_HOLIDAYS", "%v", err)
	}
	if c.Retention, err = retention.ParseRules(r.str("SO_RETENTION", retention.DefaultRules)); err != nil {
		r.fail("SO_RETENTION", "%v", err)
	}
	for _, name := range strings.Split(r.str("SO_TOKEN_ROLES", "case_manager,dpo,admin"), ",") {
		if name = strings.TrimSpace(name); name == "" || name == "none" {
			continue
		}
		role, err := so.ParseRole(name)
		if err != nil {
			r.fail("SO_TOKEN_ROLES", "%q is not an account role (applicant, case_manager, reviewer, dpo, admin)", name)
			continue
		}
		c.TokenRoles = append(c.TokenRoles, role)
	}
	if c.TokenRoles == nil {
		c.TokenRoles = []so.Role{} // "none": nobody holds tokens
	}
	for _, f := range strings.Split(r.str("SO_KEK_FILES", ""), ",") {
		if f = strings.TrimSpace(f); f != "" {
			c.KEKFiles = append(c.KEKFiles, f)
		}
	}
	for _, p := range strings.Split(r.str("SO_TRUSTED_PROXIES", ""), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				r.fail("SO_TRUSTED_PROXIES", "%q is neither an address nor a CIDR", p)
				continue
			}
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	if !hostPort(c.ListenAddr, true) {
		r.fail("SO_LISTEN_ADDR", "%q is not host:port", c.ListenAddr)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail("SO_PUBLIC_URL", "%q is not an http(s) URL", c.PublicURL)
	} else if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		// Session cookies, sign-in links and health data would cross the network in clear
		// (security review, finding 5): plain http only for a service on this machine.
		r.fail("SO_PUBLIC_URL", "%q is plain http on a host other than loopback: use https", c.PublicURL)
	}
	for _, name := range []string{"SO_DATABASE_URL", "SO_DATABASE_OWNER_URL"} {
		v := c.DatabaseURL
		if name == "SO_DATABASE_OWNER_URL" {
			v = c.DatabaseOwnerURL
		}
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			r.fail(name, "is not a postgres:// URL") // the value may hold a password: never echo it
		}
	}
	if c.MinIOEndpoint != "" {
		if !hostPort(c.MinIOEndpoint, false) {
			r.fail("SO_MINIO_ENDPOINT", "%q is not host:port", c.MinIOEndpoint)
		}
	}
	if c.MinIOBucket != "" && !validBucket(c.MinIOBucket) {
		r.fail("SO_MINIO_BUCKET", "%q is not a valid bucket name (3-63 of a-z 0-9 . -)", c.MinIOBucket)
	}
	switch {
	case !validBucket(c.MinIOCheckpoints):
		r.fail("SO_MINIO_CHECKPOINT_BUCKET", "%q is not a valid bucket name (3-63 of a-z 0-9 . -)", c.MinIOCheckpoints)
	case c.MinIOCheckpoints == c.MinIOBucket:
		r.fail("SO_MINIO_CHECKPOINT_BUCKET", "is SO_MINIO_BUCKET: the checkpoint copies need a bucket of their own, with object locking")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		r.fail("SO_LOG_LEVEL", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps" && u.Scheme != "file") {
			r.fail("SO_SMTP_URL", "is not an smtp://, smtps:// or file:// URL")
		}
	}
	return c, errors.Join(r.errs...)
}

// requireServe checks what serve needs beyond what LoadConfig validates.
func (c Config) requireServe() error {
	var errs []error
	need := func(name, v string) {
		if v == "" {
			errs = append(errs, &ConfigError{Var: name, Reason: "is required"})
		}
	}
	need("SO_DATABASE_URL", c.DatabaseURL)
	need("SO_MINIO_ENDPOINT", c.MinIOEndpoint)
	need("SO_MINIO_ACCESS_KEY", c.MinIOAccessKey)
	need("SO_MINIO_SECRET_KEY", c.MinIOSecretKey)
	need("SO_TOTP_KEY_FILE", c.TOTPKeyFile)
	need("SO_CHECKPOINT_KEY_FILE", c.CheckpointKey)
	if len(c.KEKFiles) == 0 {
		errs = append(errs, &ConfigError{Var: "SO_KEK_FILES", Reason: "is required"})
	}
	need("SO_SMTP_URL", c.SMTPURL)
	if c.AutoMigrate {
		need("SO_DATABASE_OWNER_URL", c.DatabaseOwnerURL)
	}
	return errors.Join(errs...)
}

// hostPort reports whether s is host:port with a numeric port (an empty host only if allowed).
func hostPort(s string, emptyHost bool) bool {
	h, p, err := net.SplitHostPort(s)
	if err != nil || (h == "" && !emptyHost) || strings.ContainsAny(h, "/@") {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	for _, ch := range s {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-') {
			return false
		}
	}
	return true
}

// LoadEnvFile reads KEY=VALUE lines (blank lines and # comments ignored; an optional
// `export ` prefix and matching quotes around the value are removed) into a map.
func LoadEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path) // #nosec G304 -- a NAME_FILE secret named by the operator
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("env file %s: line %d is not KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("env file %s: %w", path, err)
	}
	return out, nil
}

// loopbackHost reports whether host is this machine: localhost or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
