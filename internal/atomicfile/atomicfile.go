// Package atomicfile is qzoo's one way of writing a file so that a reader, or a run killed at
// any moment, sees either the old file or the whole new one, never a part: the content goes to a
// temporary file in the destination's directory (named ".<name>.<random>.tmp", which listings of
// checkpoints and data files ignore), is synced to disk, renamed over the destination, and the
// directory is synced so that the rename itself survives a crash. Checkpoints, evaluations,
// configs, downloaded data files and decompressed netCDF files are all written this way.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File is a file being written in place of Path. Write to it (it is an *os.File), then Commit;
// defer Abort to remove the temporary file on any error path (Abort after Commit does nothing).
type File struct {
	*os.File
	// Path is the destination the file takes on Commit.
	Path string
	done bool
}

// Create starts writing path: a temporary file of mode 0644 in path's directory, which must
// exist.
func Create(path string) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes it private
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return &File{File: tmp, Path: path}, nil
}

// Commit syncs the content, closes the file, renames it over Path and syncs the directory. On
// error the temporary file is removed and Path is left as it was.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("atomicfile: %s: committed or aborted already", f.Path)
	}
	f.done = true
	err := f.Sync()
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), f.Path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return syncDir(filepath.Dir(f.Path))
}

// Abort closes and removes the temporary file unless the file was committed; it is safe to
// defer right after Create.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// WriteWith writes path atomically through write, which must create and fill the file named
// tmp (for writers that open a file by name themselves, such as the netCDF-3 writer).
func WriteWith(path string, write func(tmp string) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f.Name()); err != nil {
		return err
	}
	// write may have replaced the file: sync the file now under the temporary name.
	g, err := os.OpenFile(f.Name(), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	f.File.Close()
	f.File = g
	return f.Commit()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
