package barrier_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/bulwarkhq/bulwark/internal/barrier"
)

func Example() {
	// In serve: root from BULWARK_MASTER_KEY / _FILE (here a fixed test key).
	root, err := barrier.LoadRootKey(barrier.Source{Key: "8f3a1c9e5b7d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a"})
	if err != nil {
		log.Fatal(err)
	}
	b, err := barrier.New(&barrier.MemStore{}, root) // the SQLite store in serve
	clear(root)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Seal()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = b.Watch(ctx, time.Second) }() // picks up `bulwark rotate`

	aad := barrier.AAD{Table: "providers", ID: "prov_42", Field: "api_key"}
	col, _ := b.EncryptText(aad, []byte("sk-upstream-credential"))
	pt, _ := b.DecryptText(aad, col)
	_, errMoved := b.DecryptText(barrier.AAD{Table: "providers", ID: "prov_43", Field: "api_key"}, col)
	fmt.Println(col[:7], string(pt), errMoved != nil)
	// Output: enc:v1: sk-upstream-credential true
}
