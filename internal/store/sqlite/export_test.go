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
