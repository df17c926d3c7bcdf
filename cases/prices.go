package cases

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	so "github.com/secondopinion/secondopinion"
)

// Money is an amount in a currency's minor unit (cents), shown as "500.00".
type Money struct {
	Cents    int64
	Currency string // ISO 4217, e.g. "EUR"
}

// String is the amount as the API writes it: "500.00".
func (m Money) String() string { return fmt.Sprintf("%d.%02d", m.Cents/100, m.Cents%100) }

// MarshalJSON writes {"amount":"500.00","currency":"EUR"}.
func (m Money) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Amount   string `json:"amount"`
		Currency string `json:"currency"`
	}{m.String(), m.Currency})
}

// ParseAmount parses a non-negative decimal amount with at most two decimals ("500",
// "500.5", "500.00") into cents.
func ParseAmount(s string) (int64, error) {
	whole, frac, dot := strings.Cut(strings.TrimSpace(s), ".")
	if whole == "" || len(whole) > 9 || (dot && (frac == "" || len(frac) > 2)) {
		return 0, fmt.Errorf("amount %q: want a decimal such as 500.00", s)
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("amount %q: want a decimal such as 500.00", s)
		}
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
	}
	return w*100 + f, nil
}

// PriceKind says what the base price of a case is.
type PriceKind string

// The base prices.
const (
	PriceSecondOpinion PriceKind = "second_opinion"
	PriceUpdate        PriceKind = "update" // an update within 12 months by the same specialist
)

// Prices are configuration, not code (DESIGN §1); all in one currency.
type Prices struct {
	Currency      string
	SecondOpinion int64 // cents
	Update        int64
	Courier       int64 // sending slides or discs by courier
	Extras        map[so.ExtraType]int64
}

// DefaultPrices are the published prices of DESIGN §1, in EUR.
func DefaultPrices() Prices {
	return Prices{Currency: "EUR", SecondOpinion: 50000, Update: 35000, Courier: 1800, Extras: map[so.ExtraType]int64{
		so.ExtraSlideReview: 23200, so.ExtraImagingReread: 18900, so.ExtraInDepth: 20000, so.ExtraMultidisciplinary: 35000,
	}}
}

// Base returns the price of kind.
func (p Prices) Base(kind PriceKind) Money {
	if kind == PriceUpdate {
		return Money{p.Update, p.Currency}
	}
	return Money{p.SecondOpinion, p.Currency}
}

// Extra returns the price of an extra.
func (p Prices) Extra(t so.ExtraType) Money { return Money{p.Extras[t], p.Currency} }
