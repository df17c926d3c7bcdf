// Package secondopinion is the domain's vocabulary: the words every other package shares, and
// nothing else. It does no I/O.
//
//   - Role: what a subject is to the service (applicant, physician, case_manager, reviewer,
//     dpo, admin).
//   - DocumentKind: the kinds of the checklist, with the properties the checklist, the consent
//     gate and the upload checks read (Required, IdentityKind, the applicant's and the
//     physician's kinds).
//   - CaseStatus: the states of a second-opinion request (DESIGN §8). The state machine that
//     moves a case between them is package cases'; here are only the names and what each
//     state lets happen (OpenForDocuments, Final).
//   - Language, ConsultationType, Relationship, ExtraType: the closed sets of a request.
//   - ValidID: the one check of the UUIDs that name cases, documents and accounts.
//   - Error: the one coded error type. Domain packages return it (or wrap it with %w); the web
//     layer maps its Code to an HTTP status in one place.
//
// The layout follows WTF Dial's root package: domain packages (access, cases, consent, upload,
// vault, audit) import this one and never each other's vocabulary.
package secondopinion
