package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestShippedDatabasesAreGenerated checks that configs/enrich holds exactly what this generator writes, so the
// shipped binary files can always be rebuilt from source.
func TestShippedDatabasesAreGenerated(t *testing.T) {
	files, err := build()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", "..", "..", "configs", "enrich", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("configs/enrich/%s differs from the generator's output: run go generate ./enrich/", name)
		}
	}
}
