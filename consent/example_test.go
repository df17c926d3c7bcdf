package consent_test

import (
	"fmt"

	"github.com/secondopinion/secondopinion/consent"
)

func ExampleRequired() {
	for _, c := range []struct{ role, kind string }{
		{consent.RoleReviewer, "imaging_study"},
		{consent.RoleCaseManager, "identity_document"},
		{consent.RoleCaseManager, "histology_report"},
		{consent.RoleApplicant, "histology_report"},
		{consent.RoleDPO, "histology_report"},
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
