package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// readProblem says why a file named on the command line could not be
// opened for reading, and what to do; other errors keep their words.
func readProblem(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !filepath.IsAbs(path) {
			return fmt.Errorf("no file %s in the directory tui was run in; check the path", path)
		}
		return fmt.Errorf("no file %s; check the path", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s cannot be read: permission denied; check its mode, or copy it somewhere readable", path)
	}
	return fmt.Errorf("open %s: %w", path, cause(err))
}

// writeProblem says why a file named on the command line could not be
// written, and what to do.
func writeProblem(path string, err error) error {
	dir := filepath.Dir(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot write %s: the directory %s does not exist or takes no files; create it, or give a path in another", path, dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("cannot write %s: permission denied in %s; give a path in a directory you can write", path, dir)
	}
	return fmt.Errorf("write %s: %w", path, cause(err))
}

// cause is what went wrong with a file, without the operation and path a
// *fs.PathError repeats.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
