package barrier_test

import (
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
	"github.com/bulwarkhq/bulwark/internal/barrier/barriertest"
)

func TestMemStoreConformance(t *testing.T) {
	barriertest.RunKeyringStore(t, func(*testing.T) barrier.KeyringStore { return &barrier.MemStore{} })
}
