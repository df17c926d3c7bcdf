package web

import (
	"archive/zip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/consent"
)

// The subject-access export (GDPR Art. 15): one ZIP archive, written straight to the response
// as it is read (no temporary file, no document held whole in memory), holding
//
//	README.txt                              what the archive holds, in the person's language
//	cases.json                              the person's requests: metadata, patient, question,
//	                                        status, dates, timeline, checklist, extras, payments,
//	                                        and each document's kind, names, size, SHA-256, state
//	                                        and its file in the archive
//	consent/<case id>.json                  every consent record of the request (signed,
//	                                        countersigned, rejected, withdrawn) as a FHIR R4
//	                                        Bundle (collection) of Consent resources
//	documents/<case id>/<document id><ext>  each available document, decrypted; the extension
//	                                        is that of the type the upload checks found
//	accesses.csv                            every audit entry about the person: who, role, when,
//	                                        what, on what, outcome (audit.About)
//
// The person asks for it themselves (GET /api/v1/me/export), or the DPO runs it on their
// behalf (GET /api/v1/accounts/{id}/export): then the archive is the one the person would get,
// and every entry the export writes carries purpose HLEGAL and the person as on_behalf_of. It
// is the one way a DPO reaches document content, because Art. 15 requires the copy.
//
// Audit, fail closed: the export's own entries (one for the account, one per request) are
// committed before the first byte; a document's opening is committed before its bytes flow,
// as on the content route. Once the archive has begun, no error status can be sent: a failure
// (the audit log, the storage, the database) cuts the connection, so the client's unzip
// fails instead of taking a partial archive for a whole one.

// People answers the export's questions about accounts: *access.Accounts.
type People interface {
	ByID(ctx context.Context, id string) (access.Account, error)
	AccountNames(ctx context.Context, ids []string) (map[string]access.AccountName, error)
}

// AccessHistory reads the audit entries about one person: *audit.Reader.
type AccessHistory interface {
	EachAbout(ctx context.Context, a audit.About, fn func(audit.Entry) error) error
	LatestAbout(ctx context.Context, a audit.About, limit int) ([]audit.Entry, bool, error)
}

// dataSubject is the person whose data an export holds.
type dataSubject struct {
	person   access.Subject // as the policy knows them: an applicant
	account  access.Account
	onBehalf bool // the DPO exports for them
}

// about selects the audit entries about the person.
func (ds dataSubject) about(caseIDs []string) audit.About {
	ids := []string{ds.account.ID}
	if e := strings.ToLower(ds.account.Email); e != "" {
		ids = append(ids, e)
		if ds.account.Email != e {
			ids = append(ids, ds.account.Email)
		}
	}
	return audit.About{ActorID: ds.person.Actor(), CaseIDs: caseIDs, ObjectIDs: ids}
}

// GET /api/v1/me/export: the signed-in applicant's own data.
func (s *Server) exportOwnData(c *gin.Context) {
	ctx, subj := c.Request.Context(), subjectOf(c)
	if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionDataExport, ""); err != nil {
		s.refuseExport(c, subj.AccountID, err)
		return
	}
	if s.cfg.People == nil || s.cfg.Accesses == nil {
		s.fail(c, so.ErrNotFound)
		return
	}
	acct, err := s.cfg.People.ByID(ctx, subj.AccountID)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.export(c, dataSubject{person: subj, account: acct})
}

// GET /api/v1/accounts/{id}/export: the DPO's export on behalf of the applicant whose account
// this is (an account that is no applicant's is 404).
func (s *Server) exportForSubject(c *gin.Context) {
	ctx, id := c.Request.Context(), c.Param("id")
	if err := s.cfg.Policy.Authorize(ctx, subjectOf(c), access.ActionSubjectExport, ""); err != nil {
		s.refuseExport(c, id, err)
		return
	}
	if !so.ValidID(id) || s.cfg.People == nil || s.cfg.Accesses == nil {
		s.refuseExport(c, id, so.ErrNotFound)
		return
	}
	acct, err := s.cfg.People.ByID(ctx, id)
	if errors.Is(err, so.ErrNotFound) || (err == nil && acct.Role != so.RoleApplicant) {
		s.refuseExport(c, id, so.ErrNotFound)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	person := access.Subject{Role: so.RoleApplicant, AccountID: acct.ID, Email: acct.Email}
	s.export(c, dataSubject{person: person, account: acct, onBehalf: true})
}

// refuseExport audits a refused export (subject.export, the account as its object), then
// answers it.
func (s *Server) refuseExport(c *gin.Context, accountID string, err error) {
	if reason := denialReason(err); reason != "" {
		s.deny(c, audit.ActionSubjectExport, "account", accountID, "", reason, err)
		return
	}
	s.fail(c, err)
}

// exportEntry is an audit entry of the export: the DPO's carry the legal purpose and the
// person they act for.
func exportEntry(c *gin.Context, ds dataSubject, action, objectType, objectID, caseID string) audit.Entry {
	e := entryFor(c, action, objectType, objectID, caseID)
	if ds.onBehalf {
		e.Purpose, e.OnBehalfOf = audit.PurposeLegal, ds.person.Actor()
	}
	return e
}

// exportPlan is everything an export writes but the documents' bytes and the audit entries,
// read before the first byte is sent.
type exportPlan struct {
	ds    dataSubject
	at    time.Time
	lang  string
	cases []exportCase
	files []exportFile
	names *actorNames
}

// exportCase is one request as cases.json holds it.
type exportCase struct {
	cases.Detail
	Documents []exportDocument `json:"documents"`
	consents  []consent.Consent
}

// exportDocument is a document as cases.json lists it, with its file in the archive ("" when
// it holds none: not available, still uploading, refused).
type exportDocument struct {
	cases.Document
	File string `json:"file,omitempty"`
}

// exportFile is a document the archive holds.
type exportFile struct {
	path string
	rec  cases.DocumentRecord
}

// planExport reads the person's requests as they see them (the DPO's export too), their
// documents, consents and invitations.
func (s *Server) planExport(ctx context.Context, ds dataSubject) (*exportPlan, error) {
	p := &exportPlan{ds: ds, at: s.now().UTC().Truncate(time.Second), names: newActorNames(s.cfg.People, ds)}
	list, err := s.cfg.Cases.List(ctx, ds.person, cases.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, v := range list {
		d, err := s.cfg.Cases.Detail(ctx, ds.person, v.ID)
		if err != nil {
			return nil, err
		}
		ec := exportCase{Detail: d, Documents: []exportDocument{}}
		docs, err := s.cfg.Cases.DocumentsFor(ctx, ds.person, v.ID)
		if err != nil {
			return nil, err
		}
		for _, doc := range docs {
			ed := exportDocument{Document: doc}
			p.names.docs[doc.ID] = displayName(doc)
			if doc.Status == "available" {
				rec, err := s.cfg.Documents.StoredDocument(ctx, doc.ID)
				if err != nil {
					return nil, err
				}
				if rec.Stored != nil {
					ext, ok := sniffedExtensions[rec.Stored.SniffedType]
					if !ok {
						ext = ".bin"
					}
					ed.File = "documents/" + v.ID + "/" + doc.ID + ext
					p.files = append(p.files, exportFile{path: ed.File, rec: rec})
				}
			}
			ec.Documents = append(ec.Documents, ed)
		}
		if ec.consents, err = s.cfg.Consents.History(ctx, v.ID); err != nil {
			return nil, err
		}
		if s.cfg.Invitations != nil {
			invs, err := s.cfg.Invitations.List(ctx, ds.person, v.ID)
			if err != nil {
				return nil, err
			}
			for _, inv := range invs {
				p.names.invitations["invitation:"+inv.ID] = inv.Email
			}
		}
		p.cases = append(p.cases, ec)
	}
	return p, nil
}

// caseIDs are the ids of the plan's requests.
func (p *exportPlan) caseIDs() []string {
	ids := make([]string, len(p.cases))
	for i, c := range p.cases {
		ids[i] = c.ID
	}
	return ids
}

// exportLanguage is the archive's language: for the person themselves as their pages choose
// it, for the DPO's export the language of the person's newest request (English without one).
func (s *Server) exportLanguage(c *gin.Context, p *exportPlan) string {
	var caseLang so.Language
	if len(p.cases) > 0 && p.cases[0].Case != nil {
		caseLang = p.cases[0].Language
	}
	if p.ds.onBehalf {
		if caseLang.Valid() {
			return string(caseLang)
		}
		return string(so.LanguageEnglish)
	}
	return s.pageLang(c, caseLang)
}

// export plans the archive, audits it, then streams it.
func (s *Server) export(c *gin.Context, ds dataSubject) {
	ctx := c.Request.Context()
	p, err := s.planExport(ctx, ds)
	if err != nil {
		s.fail(c, err)
		return
	}
	p.lang = s.exportLanguage(c, p)
	entries := []audit.Entry{exportEntry(c, ds, audit.ActionSubjectExport, "account", ds.account.ID, "")}
	for _, id := range p.caseIDs() {
		entries = append(entries, exportEntry(c, ds, audit.ActionSubjectExport, "case", id, id))
	}
	if err := s.recordAll(c, entries); err != nil {
		s.fail(c, err)
		return
	}
	c.Set(auditedKey, true)
	h := c.Writer.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", contentDisposition("attachment", "personal-data-"+p.at.Format("2006-01-02")+".zip", "personal-data.zip"))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	c.Status(http.StatusOK)
	zw := zip.NewWriter(c.Writer)
	err = s.writeExport(c, zw, p)
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		return
	}
	loggerOf(c).Error("subject-access export failed", "err", err, "begun", c.Writer.Written())
	e := exportEntry(c, ds, audit.ActionSubjectExport, "account", ds.account.ID, "")
	e.Outcome, e.Reason = audit.OutcomeSeriousFailure, "error"
	if errors.Is(err, audit.ErrUnavailable) {
		e.Reason = audit.ReasonAuditDown
	}
	if s.cfg.Audit != nil { // best effort: the log may be what failed
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		s.cfg.Audit.Log(actx, e) // #nosec G104 -- the failure is answered (or the connection cut) whatever happens
		cancel()
	}
	if !c.Writer.Written() { // nothing has left: the failure can still be answered
		h.Del("Content-Type")
		h.Del("Content-Disposition")
		s.fail(c, err)
		return
	}
	// Part of the archive is out: no status can say it failed. Cut the connection, so that the
	// archive has no central directory and no client takes it for a whole one.
	panic(http.ErrAbortHandler)
}

// writeExport writes the archive's entries in order: the README, cases.json, the consents,
// the documents, and last the accesses (which so include this export's own entries). What is
// written is sent on after the first three and after each document: the client sees the
// download progress, and a failure after that point cuts an archive already begun.
func (s *Server) writeExport(c *gin.Context, zw *zip.Writer, p *exportPlan) error {
	l := &loc{Lang: p.lang, cat: s.cfg.Catalogue, zone: time.UTC}
	flush := func() error {
		if err := zw.Flush(); err != nil {
			return err
		}
		c.Writer.Flush()
		return nil
	}
	if err := writeZipFile(zw, "README.txt", p.at, func(w io.Writer) error {
		_, err := io.WriteString(w, exportReadme(l, p))
		return err
	}); err != nil {
		return err
	}
	if err := writeZipFile(zw, "cases.json", p.at, func(w io.Writer) error { return writeCasesJSON(w, p) }); err != nil {
		return err
	}
	for _, ec := range p.cases {
		if len(ec.consents) == 0 {
			continue
		}
		if err := writeZipFile(zw, "consent/"+ec.ID+".json", p.at, func(w io.Writer) error {
			return writeConsentBundle(w, ec.consents)
		}); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for _, f := range p.files {
		if err := s.exportDocument(c, zw, p, f); err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
	}
	return writeZipFile(zw, "accesses.csv", p.at, func(w io.Writer) error {
		return s.writeAccessesCSV(c.Request.Context(), w, l, p)
	})
}

// writeZipFile writes one compressed entry of the archive.
func writeZipFile(zw *zip.Writer, name string, at time.Time, fill func(io.Writer) error) error {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: at})
	if err != nil {
		return err
	}
	return fill(w)
}

// casesFile is cases.json.
type casesFile struct {
	GeneratedAt time.Time    `json:"generated_at"`
	Account     exportPerson `json:"account"`
	Cases       []exportCase `json:"cases"`
}

type exportPerson struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

func writeCasesJSON(w io.Writer, p *exportPlan) error {
	f := casesFile{GeneratedAt: p.at, Account: exportPerson{ID: p.ds.account.ID, Email: p.ds.account.Email,
		Name: p.ds.account.Name}, Cases: p.cases}
	if f.Cases == nil {
		f.Cases = []exportCase{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

// consentBundle is a FHIR R4 Bundle of type collection.
type consentBundle struct {
	ResourceType string               `json:"resourceType"`
	Type         string               `json:"type"`
	Entry        []consentBundleEntry `json:"entry,omitempty"`
}

type consentBundleEntry struct {
	FullURL  string              `json:"fullUrl,omitempty"`
	Resource consent.FHIRConsent `json:"resource"`
}

// writeConsentBundle writes every consent record of a request, oldest first, as FHIR R4
// Consent resources in one Bundle of type collection.
func writeConsentBundle(w io.Writer, history []consent.Consent) error {
	b := consentBundle{ResourceType: "Bundle", Type: "collection"}
	for _, c := range history {
		e := consentBundleEntry{Resource: c.FHIR()}
		if so.ValidID(c.ID) {
			e.FullURL = "urn:uuid:" + c.ID
		}
		b.Entry = append(b.Entry, e)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}

// exportDocument writes one document, decrypted, as the content route would serve it to the
// person: their policy and consent gate, the object opened, the opening committed to the audit
// log, and only then its bytes, copied through a buffer that is cleared afterwards.
func (s *Server) exportDocument(c *gin.Context, zw *zip.Writer, p *exportPlan, f exportFile) error {
	ctx, rec := c.Request.Context(), f.rec
	if err := s.cfg.Policy.AuthorizeDocumentFacts(ctx, p.ds.person, access.ActionDocumentRead, rec.Facts()); err != nil {
		return fmt.Errorf("document %s: %w", rec.ID, err)
	}
	if err := s.cfg.Consent.Check(ctx, rec.CaseID, p.ds.person.Role, rec.Kind); err != nil {
		return fmt.Errorf("document %s: %w", rec.ID, err)
	}
	content, size, err := s.cfg.Vault.Open(ctx, rec.ID, rec.Stored.ObjectKey, rec.Stored.EncryptedSize)
	if err != nil {
		e := exportEntry(c, p.ds, audit.ActionDocumentOpen, "document", rec.ID, rec.CaseID)
		e.Outcome, e.Reason = audit.OutcomeSeriousFailure, audit.ReasonStorage
		s.record(c, e) // #nosec G104 -- best effort: the export stops anyway
		return errors.Join(so.ErrUnavailable, fmt.Errorf("document %s: %w", rec.ID, err))
	}
	if closer, ok := content.(io.Closer); ok {
		defer closer.Close()
	}
	if rec.Size != nil && *rec.Size != size {
		return fmt.Errorf("document %s: stored size differs from the registry", rec.ID)
	}
	if err := s.record(c, exportEntry(c, p.ds, audit.ActionDocumentOpen, "document", rec.ID, rec.CaseID)); err != nil {
		return err
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: f.path, Method: zip.Store, Modified: p.at})
	if err != nil {
		return err
	}
	var r io.Reader = io.NewSectionReader(content, 0, size)
	if st, ok := content.(streamer); ok {
		if rc, err := st.Stream(); err == nil {
			defer rc.Close()
			r = rc
		}
	}
	n, err := copyPlaintext(w, r)
	if err == nil && n != size {
		err = fmt.Errorf("%d of %d bytes", n, size)
	}
	if err != nil {
		return fmt.Errorf("document %s: %w", rec.ID, err)
	}
	return nil
}

// copyPlaintext copies a document's plaintext through a pooled buffer, cleared before it goes
// back to the pool.
func copyPlaintext(w io.Writer, r io.Reader) (int64, error) {
	bp := bodyBuffers.Get().(*[]byte)
	buf := *bp
	defer func() {
		clear(buf)
		bodyBuffers.Put(bp)
	}()
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r}, buf)
}

// accessesHeader is the header row of accesses.csv.
var accessesHeader = []string{"seq", "time_utc", "who", "role", "action", "action_code", "object", "case_id",
	"outcome", "reason"}

// writeAccessesCSV writes every audit entry about the person as RFC 4180 CSV (CRLF line ends),
// oldest first, in the archive's language; cells a spreadsheet would run as formulas are
// defused (audit.CSVCell).
func (s *Server) writeAccessesCSV(ctx context.Context, w io.Writer, l *loc, p *exportPlan) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(accessesHeader); err != nil {
		return err
	}
	err := s.cfg.Accesses.EachAbout(ctx, p.ds.about(p.caseIDs()), func(e audit.Entry) error {
		r, err := p.names.row(ctx, l, e)
		if err != nil {
			return err
		}
		row := []string{strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Who, r.Role,
			r.Action, e.Action, r.Object, e.CaseID, r.Outcome, r.Reason}
		for i := range row {
			row[i] = audit.CSVCell(row[i])
		}
		return cw.Write(row)
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return err
}

// exportReadme is README.txt in the archive's language.
func exportReadme(l *loc, p *exportPlan) string {
	var b strings.Builder
	line := func(id string, kv ...any) { b.WriteString(l.T(id, kv...) + "\n") }
	line("page.export.readme_title")
	b.WriteString("\n")
	line("page.export.readme_generated", "Date", p.at.Format("2006-01-02 15:04:05"), "Email", p.ds.account.Email)
	if p.ds.onBehalf {
		line("page.export.readme_behalf")
	}
	b.WriteString("\n")
	line("page.export.readme_contents")
	for _, item := range []struct{ name, id string }{
		{"README.txt", "page.export.readme_readme"},
		{"cases.json", "page.export.readme_cases"},
		{"consent/<case id>.json", "page.export.readme_consent"},
		{"documents/<case id>/<document id>", "page.export.readme_documents"},
		{"accesses.csv", "page.export.readme_accesses"},
	} {
		b.WriteString("\n- " + item.name + "\n  " + l.T(item.id) + "\n")
	}
	b.WriteString("\n")
	line("page.export.readme_check")
	b.WriteString("\n")
	line("page.export.readme_questions")
	return b.String()
}
