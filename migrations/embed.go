// Package migrations holds the numbered SQL files that build the database schema.
//
// Files are named NNN_description.sql and applied in lexical order, each in its own
// transaction, by the runner in cmd/schema. A file once released is never edited:
// change the schema with a new file.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
