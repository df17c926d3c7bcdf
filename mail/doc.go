// Package mail sends the service's transactional mails through an outbox: a mail is a row
// written in the transaction of the event that causes it, and a background job sends it
// later, with retries. No request waits on SMTP, no mail goes out for an event that rolled
// back, and an SMTP outage delays mails without losing them.
//
// # What a mail may say
//
// A Message names a Template (TemplateSubmitted, TemplateInvitation, …), a language (en, it
// or es: the case's; anything else is English) and Params: a Link to a page of the service,
// and where the template needs them an ExpiresAt, or an Amount and its Currency. That is
// all a mail can carry. Each field has a form that Enqueue checks (an absolute http(s) URL
// under Config.PublicURL, in canonical form and printable ASCII; "500.00"; "EUR"), and a field
// the template does not show must be empty, so free text — a patient's name, a clinical
// question, a file name — has nowhere to go. Mails point to pages; the pages, behind a
// sign-in, show the rest. The words come from the catalogue, the same for every recipient.
//
// # Queuing
//
// Outbox.Enqueue(ctx, tx, m) validates and renders m (a mail that cannot be written fails in
// the request, not later) and inserts it in tx, the caller's transaction:
//
//	tx, err := db.BeginTxx(ctx, nil)
//	...
//	defer tx.Rollback()
//	// the event's own rows, then:
//	err = outbox.Enqueue(ctx, tx, mail.Message{To: email, Template: mail.TemplateInvitation,
//		Language: lang, Params: mail.Params{Link: link, ExpiresAt: expires}})
//	...
//	err = tx.Commit()
//
// # The table
//
// mail_outbox (migration 009) holds one row per mail: id, recipient, template, language,
// params, created_at, attempts, next_attempt_at, sent_at, dead_at, last_error_class. Links
// carry secrets (sign-in and invitation tokens), so params are sealed with
// XChaCha20-Poly1305 under Config.Key, with the row's id, recipient, template and language as
// associated data: a dump shows no link, and params moved to another row, or a recipient
// changed in the table, do not open (such a mail is never sent; its class is "unsealable").
// When a mail is sent or given up, its recipient and params are set to NULL and the row
// becomes final: a CHECK and a trigger forbid making it pending again, so a mail recorded as
// sent is never sent again. What stays (template, language, times, attempts, error class)
// says that a mail of a kind went out, to nobody in particular, until Purge deletes it.
// The runtime role may insert, update the delivery columns, select and delete; it cannot
// rewrite a mail's template, language or id.
//
// # Sending
//
// Outbox.Deliver, which the job engine calls every few seconds, sends the mails that are due
// (next_attempt_at has come, neither sent nor given up), oldest first, at most Config.Batch
// per call. Each is claimed in its own transaction with SELECT … FOR UPDATE SKIP LOCKED and
// the lock is held while the mail is sent, so that any number of instances may deliver at
// once and none sends a row another is sending; if an instance dies mid-send, its lock goes
// with its connection and the row is due again at once. The outcome is written in the same
// transaction:
//
//   - sent: sent_at, and the row is wiped;
//   - failed: attempts + 1, last_error_class, and next_attempt_at after a backoff that starts
//     at Config.MinBackoff (30 s), doubles per failure up to Config.MaxBackoff (4 h), ±20 %
//     so that mails that failed together do not retry together;
//   - given up (dead_at, wiped): after Config.MaxAttempts sends (20, about two days with the
//     defaults), or at once when the server refuses the recipient or the message with a 5xx
//     reply, which no retry changes. A refused login or sender (5xx on AUTH or MAIL) is
//     retried: an operator can fix the configuration.
//
// Delivery is at least once: a mail the server accepted but whose outcome could not be
// written (the database went away between the two) is sent again. A recorded success is
// never repeated. Every mail has the Message-ID <outbox id@sender's domain>, the same on
// every attempt, so a duplicate can be recognised.
//
// The error class is a short code — smtp_dial, smtp_rcpt_550, smtp_auth_535,
// smtp_data_timeout, unsealable, render, invalid, send — never the server's text, which may
// quote the address. Logs (slog) name the outbox id, the template, the attempt and the class;
// never an address, a subject or a link.
//
// Outbox.Pending counts what is waiting (a gauge for the metrics; a growing number means SMTP
// is down). Outbox.Purge deletes finished rows older than a retention.
//
// # Senders
//
// A Sender delivers one rendered Email. NewMailer builds one from SO_SMTP_URL: smtp:// uses
// STARTTLS whenever the server offers it, smtps:// speaks TLS from the first byte, and
// file:///dir writes .eml files (the mail catcher of development). SMTPMailer's failures are
// *SendError values naming the step and the reply code. MemoryMailer keeps mails in memory
// for tests.
//
// # Words, dates and money
//
// The texts live in message catalogues, locales/en.toml, it.toml and es.toml, embedded and
// read with go-i18n: ids are dotted table paths (mail.invitation.subject), messages are
// text/template over the already formatted values ({{.Link}}, {{.ExpiresAt}}, {{.Amount}}).
// A mail is its template's body and then the footer mail.footer; a message missing from a
// language is an error, not English. The catalogue is meant to be shared with the pages
// (NewCatalogue, Catalogue.Localize), as are FormatTime and FormatMoney, which write a time in
// the centre's zone (Config.Location) and an amount as each language does:
//
//	en  7 December 2026, 15:04 CET            EUR 1,500.00
//	it  7 dicembre 2026, ore 15:04 CET        1.500,00 EUR
//	es  7 de diciembre de 2026, 15:04 CET     1500,00 EUR
package mail
