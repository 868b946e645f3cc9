package jsonschema

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestCache(t *testing.T) {
	c := NewCache(3, 1000, lenient)
	doc := func(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"maxLength":%d}`, i)) }
	a, err := c.Compile(doc(1))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Compile(doc(1)); b != a {
		t.Fatal("same document compiled twice")
	}
	// Errors are remembered too.
	bad := json.RawMessage(`{"$ref":"#"}`)
	_, err1 := c.Compile(bad)
	_, err2 := c.Compile(bad)
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v, %v", err1, err2)
	}
	// Least recently used goes first: 1 was used after 2.
	c.Compile(doc(2))
	c.Compile(doc(1))
	c.Compile(doc(3))
	if c.Len() != 3 {
		t.Fatalf("%d entries", c.Len())
	}
	if b, _ := c.Compile(doc(1)); b != a {
		t.Fatal("recently used entry evicted")
	}
	// The byte bound: a document larger than the cache is not kept, and
	// big documents push out others.
	big := json.RawMessage(`{"description":"` + strings.Repeat("x", 1200) + `"}`)
	c.Compile(big)
	if c.Len() != 3 {
		t.Fatalf("%d entries after an oversized document", c.Len())
	}
	half := json.RawMessage(`{"description":"` + strings.Repeat("x", 900) + `"}`)
	h1, _ := c.Compile(half)
	half2 := json.RawMessage(`{"description":"` + strings.Repeat("y", 900) + `"}`)
	c.Compile(half2)
	if c.bytes > 1000 {
		t.Fatalf("%d entries, %d bytes", c.Len(), c.bytes)
	}
	if h, _ := c.Compile(half); h == h1 {
		t.Fatal("a document that no longer fits stayed cached")
	}
}
