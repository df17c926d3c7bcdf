package main

import (
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeService is what the test reads of a service in docker-compose.yml.
type composeService struct {
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Secrets     []string          `yaml:"secrets"`
}

// The compose deployment keeps least privilege (security review, finding 3): only the one-shot
// `migrate` has the database owner's URL, only `storage-setup` (and MinIO itself) MinIO's root
// password; the service runs as the runtime role and its own MinIO user, never migrating.
func TestComposeLeastPrivilege(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	app, migrate, setup, minio := file.Services["app"], file.Services["migrate"], file.Services["storage-setup"], file.Services["minio"]
	for name, s := range file.Services {
		if slices.Contains(s.Secrets, "database_owner_url") != (name == "migrate") {
			t.Errorf("service %s: database_owner_url given %v", name, slices.Contains(s.Secrets, "database_owner_url"))
		}
		if slices.Contains(s.Secrets, "minio_root_password") != (name == "storage-setup" || name == "minio") {
			t.Errorf("service %s: minio_root_password given %v", name, slices.Contains(s.Secrets, "minio_root_password"))
		}
	}
	if !slices.Equal(migrate.Command, []string{"migrate"}) || migrate.Environment["SO_DATABASE_OWNER_URL_FILE"] == "" {
		t.Errorf("migrate: %+v", migrate)
	}
	if !slices.Equal(setup.Command, []string{"storage", "setup"}) || setup.Environment["SO_MINIO_ROOT_PASSWORD_FILE"] == "" {
		t.Errorf("storage-setup: %+v", setup)
	}
	for _, v := range []string{"SO_AUTO_MIGRATE", "SO_DATABASE_OWNER_URL", "SO_DATABASE_OWNER_URL_FILE", "SO_MINIO_ROOT_USER", "SO_MINIO_ROOT_PASSWORD_FILE"} {
		if _, ok := app.Environment[v]; ok {
			t.Errorf("app sets %s", v)
		}
	}
	if user := app.Environment["SO_MINIO_ACCESS_KEY"]; user == "" || user == minio.Environment["MINIO_ROOT_USER"] || user != setup.Environment["SO_MINIO_ACCESS_KEY"] {
		t.Errorf("app's MinIO user %q (root %q, made by storage-setup: %q)", user, minio.Environment["MINIO_ROOT_USER"], setup.Environment["SO_MINIO_ACCESS_KEY"])
	}
	for _, v := range []string{"SO_MINIO_SECRET_KEY_FILE", "SO_MINIO_BUCKET", "SO_MINIO_CHECKPOINT_BUCKET"} {
		if app.Environment[v] == "" || app.Environment[v] != setup.Environment[v] {
			t.Errorf("%s: app %q, storage-setup %q", v, app.Environment[v], setup.Environment[v])
		}
	}
}
