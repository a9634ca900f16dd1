// go-tlog: an oracle for acttrace's checkpoint tests, built on Go's golang.org/x/mod/sumdb/note
// and golang.org/x/mod/sumdb/tlog (the code Go's checksum database and C2SP tools use).
//
// Usage: go-tlog CASES.json > RESULTS.json
//
// It reads the cases acttrace's test wrote (leaves, roots, proofs, notes, keys), checks or
// makes each with Go's packages, and writes what Go found, one result per case id. It decides
// nothing itself: the Rust test compares Go's findings with what acttrace expects.
//
// Built in GOPATH mode (GO111MODULE=off) against Debian's golang-golang-x-mod-dev sources, so
// the test needs no network.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type rootCase struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
	Root string `json:"root"`
}

type inclusionCase struct {
	ID    string   `json:"id"`
	Size  int64    `json:"size"`
	Index int64    `json:"index"`
	Leaf  string   `json:"leaf"`
	Root  string   `json:"root"`
	Proof []string `json:"proof"`
}

type consistencyCase struct {
	ID      string   `json:"id"`
	Old     int64    `json:"old"`
	New     int64    `json:"new"`
	OldRoot string   `json:"old_root"`
	NewRoot string   `json:"new_root"`
	Proof   []string `json:"proof"`
}

type noteCase struct {
	ID    string   `json:"id"`
	Note  string   `json:"note"`
	VKeys []string `json:"vkeys"`
}

type signCase struct {
	ID   string `json:"id"`
	SKey string `json:"skey"`
	Text string `json:"text"`
}

type genKeyCase struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type cases struct {
	Leaves        []string          `json:"leaves"`
	Roots         []rootCase        `json:"roots"`
	Inclusions    []inclusionCase   `json:"inclusions"`
	Consistencies []consistencyCase `json:"consistencies"`
	Notes         []noteCase        `json:"notes"`
	Sign          []signCase        `json:"sign"`
	GenKeys       []genKeyCase      `json:"genkeys"`
}

// result is what Go found for one case; fields a case kind does not use stay empty.
type result struct {
	ID         string   `json:"id"`
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
	Root       string   `json:"root,omitempty"`
	LeafHash   string   `json:"leaf_hash,omitempty"`
	GoProof    []string `json:"go_proof,omitempty"`
	Text       string   `json:"text,omitempty"`
	Verified   []string `json:"verified,omitempty"`
	Unverified int      `json:"unverified"`
	Note       string   `json:"note,omitempty"`
	SKey       string   `json:"skey,omitempty"`
	VKey       string   `json:"vkey,omitempty"`
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func b64(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return h, err
	}
	if len(b) != len(h) {
		return h, fmt.Errorf("hash is %d bytes", len(b))
	}
	copy(h[:], b)
	return h, nil
}

func parseProof(p []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(p))
	for _, s := range p {
		h, err := parseHash(s)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func proofStrings(p []tlog.Hash) []string {
	out := make([]string, 0, len(p))
	for _, h := range p {
		out = append(out, b64(h))
	}
	return out
}

// storage is an in-memory tlog hash store over the leaves: record i's data is the 32 raw bytes
// of leaf i, so tlog.RecordHash(data) = SHA-256(0x00 || data) is RFC 6962's leaf hash.
type storage struct{ hashes []tlog.Hash }

func (s *storage) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(indexes))
	for _, i := range indexes {
		if i < 0 || i >= int64(len(s.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", i)
		}
		out = append(out, s.hashes[i])
	}
	return out, nil
}

func build(leaves [][]byte) (*storage, error) {
	s := &storage{}
	for i, leaf := range leaves {
		hs, err := tlog.StoredHashes(int64(i), leaf, s)
		if err != nil {
			return nil, err
		}
		s.hashes = append(s.hashes, hs...)
	}
	return s, nil
}

func run(c *cases) ([]result, error) {
	leaves := make([][]byte, 0, len(c.Leaves))
	for i, h := range c.Leaves {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("leaf %d is not 32 bytes of hex", i)
		}
		leaves = append(leaves, b)
	}
	store, err := build(leaves)
	if err != nil {
		return nil, err
	}
	n := int64(len(leaves))
	var out []result

	for _, rc := range c.Roots {
		r := result{ID: rc.ID}
		if rc.Size > n {
			r.Error = "size beyond the leaves"
		} else if h, err := tlog.TreeHash(rc.Size, store); err != nil {
			r.Error = err.Error()
		} else {
			r.Root = b64(h)
			r.OK = r.Root == rc.Root
		}
		out = append(out, r)
	}

	for _, ic := range c.Inclusions {
		r := result{ID: ic.ID}
		leaf, err1 := hex.DecodeString(ic.Leaf)
		root, err2 := parseHash(ic.Root)
		proof, err3 := parseProof(ic.Proof)
		if err1 != nil || err2 != nil || err3 != nil {
			r.Error = "bad case encoding"
			out = append(out, r)
			continue
		}
		lh := tlog.RecordHash(leaf)
		r.LeafHash = b64(lh)
		err := tlog.CheckRecord(proof, ic.Size, root, ic.Index, lh)
		r.OK, r.Error = err == nil, errString(err)
		if ic.Size <= n && ic.Index >= 0 && ic.Index < ic.Size {
			if p, err := tlog.ProveRecord(ic.Size, ic.Index, store); err == nil {
				r.GoProof = proofStrings(p)
			}
		}
		out = append(out, r)
	}

	for _, cc := range c.Consistencies {
		r := result{ID: cc.ID}
		oldRoot, err1 := parseHash(cc.OldRoot)
		newRoot, err2 := parseHash(cc.NewRoot)
		proof, err3 := parseProof(cc.Proof)
		if err1 != nil || err2 != nil || err3 != nil {
			r.Error = "bad case encoding"
			out = append(out, r)
			continue
		}
		err := tlog.CheckTree(proof, cc.New, newRoot, cc.Old, oldRoot)
		r.OK, r.Error = err == nil, errString(err)
		if cc.New <= n && cc.Old >= 1 && cc.Old <= cc.New {
			if p, err := tlog.ProveTree(cc.New, cc.Old, store); err == nil {
				r.GoProof = proofStrings(p)
			}
		}
		out = append(out, r)
	}

	for _, nc := range c.Notes {
		r := result{ID: nc.ID}
		var vs []note.Verifier
		for _, k := range nc.VKeys {
			v, err := note.NewVerifier(k)
			if err != nil {
				r.Error = "verifier key: " + err.Error()
				break
			}
			vs = append(vs, v)
		}
		if r.Error == "" {
			n, err := note.Open([]byte(nc.Note), note.VerifierList(vs...))
			r.OK, r.Error = err == nil, errString(err)
			if err == nil {
				r.Text = n.Text
				for _, s := range n.Sigs {
					r.Verified = append(r.Verified, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
				}
				r.Unverified = len(n.UnverifiedSigs)
			}
		}
		out = append(out, r)
	}

	for _, sc := range c.Sign {
		r := result{ID: sc.ID}
		s, err := note.NewSigner(sc.SKey)
		if err == nil {
			var msg []byte
			msg, err = note.Sign(&note.Note{Text: sc.Text}, s)
			r.Note = string(msg)
		}
		r.OK, r.Error = err == nil, errString(err)
		out = append(out, r)
	}

	for _, gc := range c.GenKeys {
		r := result{ID: gc.ID}
		skey, vkey, err := note.GenerateKey(rand.Reader, gc.Name)
		r.OK, r.Error, r.SKey, r.VKey = err == nil, errString(err), skey, vkey
		out = append(out, r)
	}
	return out, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-tlog CASES.json")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-tlog:", err)
		os.Exit(2)
	}
	var c cases
	if err := json.Unmarshal(data, &c); err != nil {
		fmt.Fprintln(os.Stderr, "go-tlog: cases:", err)
		os.Exit(2)
	}
	results, err := run(&c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-tlog:", err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(map[string][]result{"results": results}); err != nil {
		fmt.Fprintln(os.Stderr, "go-tlog:", err)
		os.Exit(2)
	}
}
