package audit_test

import (
	"fmt"
	"net/url"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/secondopinion/secondopinion/audit"
)

func ExampleParseFilter() {
	q, _ := url.ParseQuery("case_id=3f1c&action=document.*&outcome=denied&from=2025-01-01&limit=50")
	f, err := audit.ParseFilter(q)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.CaseID, f.Action, *f.Outcome, f.From.Format("2006-01-02"), f.Limit)
	// Output: 3f1c document.* minor_failure 2025-01-01 50
}

func ExampleFormatCheckpoint() {
	var root tlog.Hash // a real root comes from the log
	fmt.Printf("%s", audit.FormatCheckpoint("hospital.example/secondopinion/audit", 1024, root))
	// Output:
	// hospital.example/secondopinion/audit
	// 1024
	// AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
}
