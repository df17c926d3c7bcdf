// Package cases holds second-opinion requests: the case record an applicant opens, the
// reviewers a case manager assigns to it, and the registry of its documents.
//
// # Creating a case
//
// POST /api/v1/cases carries a CreateInput. ParseCreateInput decodes it strictly (one object, no
// unknown fields, at most 64 KiB) and validates it; every problem is reported at once in a
// *ValidationError whose FieldError entries name the JSON field ("patient.birth_date",
// "consultation_types[1]"), so a form can mark each one. Cases.Create validates again and
// stores a draft owned by the applicant.
//
// # Who sees what
//
// This package does not authorize: the handler asks access.Policy first, with Cases as the
// policy's access.Directory (CaseFacts, DocumentFacts). Listings follow the same policy:
// ListForSubject returns exactly the cases access.Policy lets the subject read, and
// DocumentsFor exactly the documents it lets the subject see.
//
// # Errors
//
// ErrNotFound, ErrInvalid and ErrForbidden are package access's values, so the web layer maps
// one set of errors: 404, 400 (with the fields of a *ValidationError), 403.
//
// The state machine, checklist and SLA clock of DESIGN §8 build on this package; here a case
// only has its status.
package cases
