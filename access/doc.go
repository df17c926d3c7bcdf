// Package access decides who someone is and what they may do: accounts, password hashing,
// TOTP, sessions, API tokens, email sign-in links, invitations for referring physicians, and
// the one authorization policy that every entry point (JSON API, tus hooks, pages) asks.
//
// It knows nothing of HTTP. The web layer reads a cookie or a bearer token, calls
// Sessions.Authenticate or Tokens.Authenticate for a Subject, and asks Policy before acting;
// it maps this package's errors to statuses in one place (see the table at so.ErrUnauthenticated).
// Build the whole thing with New; every operation takes a context first.
//
// # Who signs in, and how
//
//	applicant     email + password (Sessions.Login), or a one-time email link (SignInLinks)
//	physician     an invitation link for one case (Invitations); no account
//	case_manager  password + TOTP
//	reviewer      password + TOTP
//	dpo           password + TOTP
//	admin         password + TOTP
//	automation    an API token issued by `tokens issue` (Tokens), with its account's role
//
// Passwords are hashed with argon2id (RFC 9106 parameters, PHC string format) and compared in
// constant time; an unknown email is checked against a dummy hash so that it costs the same.
// Every refused login is the same so.ErrInvalidCredentials: unknown user, wrong password, disabled
// account, missing or wrong TOTP code. Failures are counted per account and per client address
// in PostgreSQL (5 and 20 in 15 minutes by default); over either limit, Login answers a
// *ThrottledError, which is also so.ErrInvalidCredentials, so the body is the same and only a
// Retry-After header may tell. A success clears the account's count.
//
// A staff account starts without TOTP. Its first login opens a session whose Subject has
// NeedsTOTPEnrolment: the policy refuses it everything (so.ErrTOTPRequired) until
// Accounts.BeginTOTP shows a secret and Sessions.ConfirmTOTP accepts a code from the
// authenticator app, which rotates the session into one with TOTPSatisfied. TOTP secrets are
// stored sealed under Config.TOTPKey; a code is accepted once.
//
// # Sessions
//
// The cookie SessionCookie ("__Host-so_session", Path=/, Secure, HttpOnly, SameSite=Lax) holds
// 32 random bytes; the database holds their SHA-256. A login always creates a new session (a
// fixated cookie is worthless), Sessions.Rotate replaces the id on a privilege change, and a
// session ends at Logout, after 30 idle minutes, 12 hours after login, when the account is
// disabled or its password set, and for a physician when the invitation expires or is revoked.
// The web layer protects state-changing browser requests against CSRF
// (http.CrossOriginProtection); bearer-token requests carry no cookie and need none.
//
// # Links in mails
//
// Sign-in links (SignInLinkPath) and invitations (InvitationPath) are mailed through the Outbox
// (package mail): each mail is queued in the transaction that stores its link and sent by a
// background job, so no request waits on SMTP. Mails carry a link and its expiry, never health
// data. Both links are single use and expire; their pages must redeem them only on POST,
// because mail scanners follow links.
//
// # The policy
//
// Policy.Authorize (case and global actions), Policy.AuthorizeUpload (the upload action and the
// document kind) and Policy.AuthorizeDocument (document actions) answer nil, so.ErrForbidden (403)
// or so.ErrNotFound (404). A case the subject may not see answers so.ErrNotFound exactly like a case
// that does not exist. Visibility first: an applicant sees their own cases; a physician the
// invitation's case, and in it only what the invitation uploaded; a reviewer the cases assigned
// to them; case managers, DPOs and admins every case. Then the action, by role. Admins can thus
// learn that a case id exists, and nothing more: they manage accounts, keys and retention, never
// case content or metadata. The policy decides who; the state machine decides when (409), and
// the consent gate, asked after the policy, whether content may be read yet.
//
// Case actions. Per role three answers: on the related case (the applicant's own, the
// physician's invited, the reviewer's assigned, any case for the other roles), on another
// applicant's case, on a missing case. "ok" is allowed.
//
//	                        applicant     physician     case_manager  reviewer      dpo           admin
//	                        own oth mis   inv oth mis   any any mis   asg oth mis   any any mis   any any mis
//	case.read               ok  404 404   403 404 404   ok  ok  404   ok  404 404   ok  ok  404   403 403 404
//	case.submit             ok  404 404   403 404 404   403 403 404   403 404 404   403 403 404   403 403 404
//	case.triage             403 404 404   403 404 404   ok  ok  404   403 404 404   403 403 404   403 403 404
//	case.request_documents  403 404 404   403 404 404   ok  ok  404   403 404 404   403 403 404   403 403 404
//	case.accept             403 404 404   403 404 404   ok  ok  404   403 404 404   403 403 404   403 403 404
//	case.payment            403 404 404   403 404 404   ok  ok  404   403 404 404   403 403 404   403 403 404
//	case.release            403 404 404   403 404 404   403 403 404   ok  404 404   403 403 404   403 403 404
//	case.close              403 404 404   403 404 404   ok  ok  404   403 404 404   403 403 404   403 403 404
//	case.withdraw           ok  404 404   403 404 404   403 403 404   403 404 404   403 403 404   403 403 404
//	case.refund             403 404 404   403 404 404   ok  ok  404   403 404 404   403 403 404   403 403 404
//	document.list           ok  404 404   ok  404 404   ok  ok  404   ok  404 404   ok  ok  404   403 403 404
//	document.upload         ok  404 404   ok  404 404   403 403 404   ok  404 404   403 403 404   403 403 404
//	assignment.create       403 404 404   403 404 404   ok  ok  404   403 404 404   403 403 404   403 403 404
//	invitation.create       ok  404 404   403 404 404   ok  ok  404   403 404 404   403 403 404   403 403 404
//	consent.sign            ok  404 404   403 404 404   403 403 404   403 404 404   403 403 404   403 403 404
//	consent.countersign     403 404 404   403 404 404   ok  ok  404   403 404 404   403 403 404   403 403 404
//	consent.withdraw        ok  404 404   403 404 404   403 403 404   403 404 404   403 403 404   403 403 404
//	consent.read            ok  404 404   403 404 404   ok  ok  404   403 404 404   ok  ok  404   403 403 404
//	extras.propose          403 404 404   403 404 404   403 403 404   ok  404 404   403 403 404   403 403 404
//	extras.decide           ok  404 404   403 404 404   403 403 404   403 404 404   403 403 404   403 403 404
//	case.erase              403 404 404   403 404 404   403 403 404   403 404 404   ok  ok  404   403 403 404
//	case.hold               403 404 404   403 404 404   403 403 404   403 404 404   ok  ok  404   403 403 404
//	document.review         403 404 404   403 404 404   ok  ok  404   403 404 404   403 403 404   403 403 404
//
// Document actions. Per role four answers: a document of the related case uploaded by its
// applicant, one of the related case uploaded by the invited physician, one of another case, a
// missing one.
//
//	                   applicant        physician        case_manager     reviewer         dpo              admin
//	document.read      ok  ok  404 404  404 ok  404 404  ok  ok  ok  404  ok  ok  404 404  403 403 403 404  403 403 403 404
//	document.delete    ok  ok  404 404  404 403 404 404  403 403 403 404  403 403 404 404  ok  ok  ok  404  403 403 403 404
//
// Global actions, by role (applicant, physician, case_manager, reviewer, dpo, admin):
//
//	case.create        ok  403 403 403 403 403
//	me.export          ok  403 403 403 403 403
//	subject.export     403 403 403 403 ok  403
//	audit.read         403 403 403 403 ok  403
//	audit.export       403 403 403 403 ok  403
//	accounts.manage    403 403 403 403 403 ok
//
// Uploads by kind (AuthorizeUpload, UploadableKinds): applicants any kind but "report";
// physicians "cover_letter", the clinical kinds (clinical_history, histology_report,
// imaging_report, imaging_study, radiotherapy_plan) and "other"; reviewers only "report".
// When a case accepts uploads at all is the state machine's (cases.UploadAllowed).
//
// The specialist's report (kind "report") is seen by the assigned reviewers from its upload,
// and by the applicant, case managers and the DPO only once the case's report is released
// (CanSeeDocument).
//
// Judgement calls, for review: case managers may read document content (triage checks
// completeness and legibility, and may reject a document), still behind the consent gate; an
// applicant sees and may delete every document of their own case, the physician's included;
// DPOs read case metadata and document lists (for access requests and erasure) and delete
// documents, never content, with one deliberate exception: the subject-access export on behalf
// of a data subject (subject.export; GDPR Art. 15 requires the copy to hold the documents),
// which gives the DPO exactly what the applicant's own export (me.export) holds, each
// document's opening audited with purpose HLEGAL on behalf of the subject; physicians cannot
// read the case record (it holds the patient's details), only upload and see their own
// uploads; a withdrawn or refunded case is closed to its reviewers (404), its purpose having
// ended, while case managers and the DPO keep it.
package access
