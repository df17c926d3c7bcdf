package consent_test

import (
	"fmt"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/consent"
)

func ExampleRequired() {
	for _, c := range []struct {
		role so.Role
		kind so.DocumentKind
	}{
		{so.RoleReviewer, "imaging_study"},
		{so.RoleCaseManager, "identity_document"},
		{so.RoleCaseManager, "histology_report"},
		{so.RoleApplicant, "histology_report"},
		{so.RoleDPO, "histology_report"},
	} {
		need, err := consent.Required(c.role, c.kind)
		fmt.Println(c.role, c.kind, need, err)
	}
	// Output:
	// reviewer imaging_study true <nil>
	// case_manager identity_document false <nil>
	// case_manager histology_report true <nil>
	// applicant histology_report false <nil>
	// dpo histology_report false consent: role may not read documents: "dpo"
}
