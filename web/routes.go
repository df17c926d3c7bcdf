package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
)

// routes is the single route table of the service.
func (s *Server) routes() {
	e := s.engine
	e.Use(s.requestID, s.recoverPanics, s.securityHeaders, s.logRequests)
	e.NoRoute(func(c *gin.Context) { writeError(c, http.StatusNotFound, "not_found", "no such resource") })
	e.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
	})

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))
	e.GET("/api/v1/openapi.json", s.openAPI)

	api := e.Group("/api/v1", s.authenticate)
	s.mountUploads(api)
	authed := api.Group("", s.requireSubject)
	if s.cfg.Tus != nil {
		authed.GET("/uploads", s.listUnfinished)
	}
	authed.GET("/documents/:id/content", s.documentContent)
	authed.GET("/documents/:id/preview", s.documentPreview)
	authed.DELETE("/documents/:id", s.deleteDocument)
	// The subject-access export (GDPR Art. 15) streams for as long as it takes: no JSON deadlines.
	authed.GET("/me/export", s.requireSecondFactor, s.exportOwnData)
	authed.GET("/accounts/:id/export", s.requireSecondFactor, s.exportForSubject)

	// Sessions, cases and invitations. Signing in and out must work with a stale cookie, so
	// those routes are outside s.authenticate; staff need their second factor for the rest.
	signin := e.Group("/api/v1", s.jsonDeadlines)
	signin.POST("/session", s.login)
	signin.DELETE("/session", s.logout)
	signin.POST("/signin-links", s.requestSignInLink)
	signin.POST("/signin-links/redeem", s.redeemSignInLink)
	signin.POST("/invitations/redeem", s.redeemInvitation)
	signin.POST("/password-links/redeem", s.redeemPasswordLink)
	me := api.Group("", s.jsonDeadlines, s.requireSubject)
	me.GET("/session", s.whoami)
	me.POST("/session/totp", s.beginTOTP)
	me.POST("/session/totp/confirm", s.confirmTOTP)
	work := api.Group("", s.jsonDeadlines, s.requireSubject, s.requireSecondFactor)
	work.POST("/cases", s.createCase)
	work.GET("/cases", s.listCases)
	work.GET("/cases/:id", s.getCase)
	work.GET("/cases/:id/documents", s.listDocuments)
	work.POST("/cases/:id/assignments", s.assignReviewer)
	for _, t := range cases.Transitions {
		work.POST("/cases/:id/"+string(t), s.transition(t))
	}
	work.POST("/documents/:id/review", s.reviewDocument)
	work.POST("/cases/:id/extras", s.proposeExtra)
	work.POST("/extras/:id/approve", s.decideExtra(true))
	work.POST("/extras/:id/decline", s.decideExtra(false))
	work.POST("/cases/:id/invitations", s.invite)
	work.GET("/cases/:id/invitations", s.listInvitations)
	work.DELETE("/invitations/:id", s.revokeInvitation)

	// Legal hold and erasure (the DPO).
	work.POST("/cases/:id/hold", s.placeHold)
	work.GET("/cases/:id/hold", s.getHold)
	work.DELETE("/cases/:id/hold", s.releaseHold)
	authed.POST("/cases/:id/erasure", s.eraseCase) // as long as its documents take: no JSON deadline
	work.GET("/cases/:id/erasure", s.getTombstone)

	// Consent and the audit log.
	work.POST("/cases/:id/consent/signature", s.signConsent)
	work.POST("/cases/:id/consent/countersignature", s.countersignConsent)
	work.POST("/cases/:id/consent/withdrawal", s.withdrawConsent)
	work.GET("/cases/:id/consent", s.getConsent)
	work.GET("/audit", s.listAudit)
	work.GET("/audit/verify", s.verifyAudit)
	work.GET("/audit/export", s.exportAudit)

	// Administration.
	work.GET("/accounts", s.listAccounts)
	work.POST("/accounts", s.addAccount)
	work.POST("/accounts/:id/disable", s.accountAction(audit.ActionAccountDisable))
	work.POST("/accounts/:id/totp-reset", s.accountAction(audit.ActionAccountTOTPReset))
	work.POST("/accounts/:id/password-link", s.sendPasswordLink)
	work.GET("/tokens", s.listTokens)
	work.POST("/tokens", s.issueToken)
	work.DELETE("/tokens/:id", s.revokeToken)
	work.GET("/keys", s.listKeys)

	// The pages (DESIGN §14). Forms post to these routes, which hand the API's handlers the
	// same JSON an API client would send.
	e.GET("/static/*path", gin.WrapH(s.staticFiles()))
	pg := e.Group("", s.jsonDeadlines, s.pageSession)
	pg.GET("/", s.pageHome)
	pg.POST("/language", s.pageLanguage)
	pg.GET("/signin", s.pageSignIn)
	pg.POST("/signin", s.pageSignInPost)
	pg.POST("/signin/link-request", s.pageLinkRequest)
	pg.GET("/signin/link", s.tokenLanding("link", "page.link.title"))
	pg.POST("/signin/link", s.tokenRedeem(s.redeemSignInLink, "link", "page.link.title", "page.link.expired", "/"))
	pg.GET("/invitation", s.tokenLanding("invitation", "page.invitation.title"))
	pg.POST("/invitation", s.tokenRedeem(s.redeemInvitation, "invitation", "page.invitation.title",
		"page.invitation.expired", "/physician"))
	pg.POST("/signout", s.pageSignOut)
	pg.GET("/password", s.tokenLanding("password", "page.password.title"))
	pg.POST("/password", s.pagePasswordSet)

	in := pg.Group("", s.pageSignedIn)
	in.GET("/cases", s.pageCases)
	in.GET("/cases/new", s.pageNewCase)
	in.POST("/cases/new", s.pageNewCasePost)
	in.GET("/cases/:id", s.caseView("case", "page.case.title"))
	in.POST("/cases/:id/submit", s.pageSubmit)
	in.GET("/cases/:id/withdraw", s.caseView("withdraw", "page.withdraw.title"))
	in.POST("/cases/:id/withdraw", s.pageWithdraw)
	in.GET("/cases/:id/consent", s.pageConsent)
	in.POST("/cases/:id/consent", s.pageSignConsent)
	in.POST("/cases/:id/consent/withdrawal", s.pageWithdrawConsent)
	in.POST("/cases/:id/invitations", s.pageInvite)
	in.POST("/invitations/:id/revoke", s.pageRevokeInvitation)
	in.POST("/extras/:id/approve", s.pageDecideExtra(true))
	in.POST("/extras/:id/decline", s.pageDecideExtra(false))
	in.GET("/cases/:id/upload", s.pageUpload)
	in.GET("/cases/:id/receipt", s.pageReceipt)
	in.GET("/cases/:id/receipt.json", s.receiptJSON)
	in.GET("/cases/:id/accesses", s.pageAccesses)
	in.GET("/physician", s.pagePhysician)

	// The staff desks. Enrolling TOTP is the one thing a staff session without it may do.
	in.GET("/staff/totp", s.staffTOTP)
	in.POST("/staff/totp", s.staffTOTPBegin)
	in.POST("/staff/totp/confirm", s.staffTOTPConfirm)
	st := in.Group("/staff", s.pageStaff)
	st.GET("", s.staffHome)
	st.GET("/cases", s.staffQueue)
	st.GET("/cases/:id", s.staffCase)
	for _, t := range cases.Transitions {
		st.POST("/cases/:id/"+string(t), s.staffTransition(t))
	}
	st.POST("/cases/:id/countersign", s.staffCountersign)
	st.POST("/cases/:id/assign", s.staffAssign)
	st.POST("/cases/:id/extras", s.staffProposeExtra)
	st.POST("/documents/:id/review", s.staffReview)
	st.POST("/cases/:id/hold", s.staffHold)
	st.POST("/cases/:id/hold/release", s.staffReleaseHold)
	st.POST("/cases/:id/erasure", s.staffErase)
	st.GET("/documents/:id", s.staffViewer)
	st.GET("/cases/:id/upload", s.pageUpload)
	st.GET("/audit", s.staffAudit)
	st.GET("/audit/verify", s.staffAuditVerify)
	st.GET("/admin", s.staffAdmin)
	st.POST("/admin/accounts", s.staffAddAccount)
	st.POST("/admin/accounts/:id/disable", s.staffAccountAction(audit.ActionAccountDisable, "page.admin.disabled"))
	st.POST("/admin/accounts/:id/totp-reset", s.staffAccountAction(audit.ActionAccountTOTPReset, "page.admin.reset"))
	st.POST("/admin/accounts/:id/password-link", s.staffPasswordLink)
	st.POST("/admin/tokens", s.staffIssueToken)
	st.POST("/admin/tokens/:id/revoke", s.staffRevokeToken)
}
