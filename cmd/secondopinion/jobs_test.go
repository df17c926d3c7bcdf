package main

import (
	"testing"
	"time"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// Two service instances on one database run each periodic task once per period: the mail
// outbox's delivery (every 5 s) ran in several periods, never twice in one, and the instances
// shared the work between them or left it to one, but never both ran a period.
func TestPeriodicJobsRunOncePerPeriodAcrossInstances(t *testing.T) {
	db, bucket := testenv.NewDB(t), testenv.NewBucket(t)
	bootAPIWith(t, db, bucket, nil)
	bootAPIWith(t, db, bucket, nil)
	deadline := time.Now().Add(40 * time.Second)
	var periods int
	for time.Now().Before(deadline) {
		if err := db.Owner.Get(&periods, `SELECT count(DISTINCT args->>'period') FROM river_job
			WHERE kind = 'periodic' AND args->>'task' = 'mail_deliver' AND state = 'completed'`); err != nil {
			t.Fatal(err)
		}
		if periods >= 3 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if periods < 3 {
		t.Fatalf("mail delivery ran in %d periods within 40 s, want at least 3", periods)
	}
	var twice []string
	if err := db.Owner.Select(&twice, `SELECT args->>'task' || ' ' || (args->>'period') FROM river_job
		WHERE kind = 'periodic' GROUP BY args->>'task', args->>'period' HAVING count(*) > 1`); err != nil {
		t.Fatal(err)
	}
	if len(twice) > 0 {
		t.Fatalf("periods run more than once: %v", twice)
	}
	var tasks []string
	if err := db.Owner.Select(&tasks, `SELECT DISTINCT args->>'task' FROM river_job WHERE kind = 'periodic' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	// Every task runs once at a leader's election, whatever its period.
	for _, want := range []string{"audit_checkpoint", "credentials_purge", "mail_deliver", "mail_purge", "retention", "sla_reminder", "upload_expiry"} {
		found := false
		for _, got := range tasks {
			found = found || got == want
		}
		if !found {
			t.Errorf("task %s never ran (ran: %v)", want, tasks)
		}
	}
	// The retention job's run is in the audit log, as the service's own (no case had expired).
	var runs int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := db.Owner.Get(&runs, `SELECT count(*) FROM audit_entries WHERE action = 'retention.run'
			AND actor_id = 'system:retention' AND actor_role = 'system' AND object_id LIKE 'dry_run=false cases=0 %'`); err != nil {
			t.Fatal(err)
		}
		if runs > 0 {
			break
		}
	}
	if runs == 0 {
		t.Error("the retention job's run is not in the audit log")
	}
}
