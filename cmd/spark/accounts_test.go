package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccountsCreatesNothing: pointed at a missing data directory or at a
// directory without a database, `spark accounts` says where it looked,
// fails, and leaves the disk as it was (it used to create ./data).
func TestAccountsCreatesNothing(t *testing.T) {
	t.Setenv("SPARK_SECRET_KEY", "")
	root := t.TempDir()
	missing := filepath.Join(root, "nowhere")
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, env string
		args      []string
		want      []string
	}{
		{"missing via DATA_DIR", missing, nil, []string{"no data directory at " + missing + " (DATA_DIR)", "does not exist"}},
		{"missing via flag", "", []string{"--data-dir", missing}, []string{"no data directory at " + missing + " (--data-dir)"}},
		{"no database", empty, nil, []string{"no account database spark.db", empty + " (DATA_DIR)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DATA_DIR", tt.env)
			err := run(context.Background(), append([]string{"accounts"}, tt.args...), io.Discard, io.Discard)
			if err == nil || exitCode(err) != 1 {
				t.Fatalf("err %v (exit %d), want a failure", err, exitCode(err))
			}
			for _, w := range append(tt.want, "nothing was created") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the missing directory was created: %v", err)
			}
			if entries, _ := os.ReadDir(empty); len(entries) != 0 {
				t.Fatalf("files created in the empty directory: %v", entries)
			}
		})
	}
}

// TestAccountsDefaultDirectory: with DATA_DIR unset it names ./data made
// absolute and how to choose another, and does not create it.
func TestAccountsDefaultDirectory(t *testing.T) {
	t.Setenv("DATA_DIR", "")
	t.Chdir(t.TempDir())
	wd, _ := os.Getwd()
	err := run(context.Background(), []string{"accounts"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(wd, "data")) || !strings.Contains(err.Error(), "set DATA_DIR or --data-dir") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(wd, "data")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("./data was created: %v", err)
	}
}
