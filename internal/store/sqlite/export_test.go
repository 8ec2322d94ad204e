package sqlite

import (
	"database/sql"
)

// dropVersionTableFor is used by tests to simulate a schema created without
// goose bookkeeping.
func dropVersionTableFor(path string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(`DROP TABLE goose_db_version`)
	return err
}

// DropVersionTable is exported to the external test package only.
var DropVersionTable = dropVersionTableFor

// DropRollups brings the database at path back to schema version 8: the
// score rollups table and the goose version rows from 9 on are removed,
// and scopes are moved back inline as version 8 stored them (Migrate then
// re-runs the later migrations, each harmless to re-run).
func DropRollups(path string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TABLE score_rollups`); err != nil {
		return err
	}
	if _, err := db.Exec(`UPDATE predictions SET scope_jsonb = (SELECT scope_jsonb FROM scopes WHERE scopes.id = predictions.scope_id), scope_id = NULL
WHERE scope_id IS NOT NULL`); err != nil {
		return err
	}
	_, err = db.Exec(`DELETE FROM goose_db_version WHERE version_id >= 9`)
	return err
}
