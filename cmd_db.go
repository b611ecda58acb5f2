package main

import (
	"errors"
	"fmt"
	"os"

	"tui/internal/english"
	"tui/store"
)

// `tui db`: the database file itself — check it, back it up, compact it.

func dbCmd(e *env, g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("db needs a subcommand: check, backup FILE or compact")
	}
	switch args[0] {
	case "help", "--help", "-help", "-h":
		return &helpRequest{command: "db"}
	case "check":
		return dbCheck(e, g, args[1:])
	case "backup":
		return dbBackup(e, g, args[1:])
	case "compact":
		return dbCompact(e, g, args[1:])
	}
	return usagef("unknown db subcommand %q: use check, backup FILE or compact", args[0])
}

// existingDBPath is the database file the global flags name, which must
// exist: the db commands never make one.
func existingDBPath(g *globals) (string, error) {
	if err := validateRedisURL(g.redis); err != nil {
		return "", err
	}
	path, err := dbPath(g)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("database %s: %w (pass --db with the file to use)", path, err)
	}
	return path, nil
}

// heldByOwner is the error for a db command when a running tui holds the
// database: bbolt lets one process at a time open it for writing, and a
// consistent copy or check needs it still.
func heldByOwner(path, what string) error {
	return fmt.Errorf("%s: the database is in use by a running tui (the app, `tui --ssh`, or `tui campaign send --wait`), "+
		"which holds it alone, so it cannot be %s now. Quit that tui, or stop the service for a moment "+
		"(systemctl stop tui; tui db …; systemctl start tui), then run this again: it takes about a second per 100 MB", path, what)
}

func dbArgs(e *env, g *globals, name string, args []string) ([]string, error) {
	fs := newFlagSet(e, "db "+name)
	g.register(fs)
	return parseInterspersed(fs, args)
}

func dbCheck(e *env, g *globals, args []string) error {
	pos, err := dbArgs(e, g, "check", args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("db check takes no arguments (got %q); --db names the database", pos[0])
	}
	path, err := existingDBPath(g)
	if err != nil {
		return err
	}
	rep, err := store.CheckFile(path)
	if errors.Is(err, store.ErrLocked) {
		return heldByOwner(path, "checked")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %s, %s pages of %d bytes (transaction %d), %s free\n", path, byteCount(rep.Size),
		english.Thousands(int(rep.Pages)), rep.PageSize, rep.TxID, english.Thousands(rep.FreePages))
	if rep.OK() {
		fmt.Fprintf(e.stdout, "OK: every page and record reads back: %s, %s, %s, %s\n",
			english.Count(rep.Campaigns, "campaign", "campaigns"), english.Count(rep.Contacts, "contact", "contacts"),
			english.Count(rep.LedgerRows, "ledger row", "ledger rows"), english.Count(rep.Suppressed, "suppressed address", "suppressed addresses"))
		return nil
	}
	fmt.Fprintf(e.stdout, "DAMAGED: %s %s:\n", english.Thousands(rep.ProblemCount), english.Plural(rep.ProblemCount, "problem", "problems"))
	for _, p := range rep.Problems {
		fmt.Fprintf(e.stdout, "  %s\n", p)
	}
	if more := rep.ProblemCount - len(rep.Problems); more > 0 {
		fmt.Fprintf(e.stdout, "  … and %s more\n", english.Thousands(more))
	}
	return fmt.Errorf("%s is damaged: restore it from a backup (copy the backup over it while no tui runs); keep the damaged file aside in case it is needed", path)
}

func dbBackup(e *env, g *globals, args []string) error {
	pos, err := dbArgs(e, g, "backup", args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("db backup needs the file to write: tui db backup FILE")
	}
	path, err := existingDBPath(g)
	if err != nil {
		return err
	}
	info, err := store.BackupFile(path, pos[0])
	if errors.Is(err, store.ErrLocked) {
		return heldByOwner(path, "copied consistently")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Backed up %s to %s: %s at transaction %d; the copy passed its check. Restore it by copying it over the database while no tui runs.\n",
		path, info.Path, byteCount(info.Bytes), info.TxID)
	return nil
}

func dbCompact(e *env, g *globals, args []string) error {
	pos, err := dbArgs(e, g, "compact", args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("db compact takes no arguments (got %q); --db names the database", pos[0])
	}
	path, err := existingDBPath(g)
	if err != nil {
		return err
	}
	before, after, err := store.CompactFile(path)
	if errors.Is(err, store.ErrLocked) {
		return heldByOwner(path, "compacted")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Compacted %s: %s → %s.\n", path, byteCount(before), byteCount(after.Bytes))
	return nil
}

func byteCount(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
