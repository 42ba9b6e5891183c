package viewer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// ErrRendition is wrapped when the rendition choice cannot be met.
var ErrRendition = errors.New("bad rendition choice")

// renditionPolicy is how a viewer picks among the variants of a
// multivariant playlist or the Representations of an MPD.
type renditionPolicy struct {
	kind  policyKind
	index int // with policyIndex: 0-based, in document order
}

type policyKind uint8

const (
	policyRandom policyKind = iota
	policyLowest
	policyHighest
	policyIndex
)

// parseRendition reads "lowest", "highest", "random" ("" too) or a
// 0-based index in document order.
func parseRendition(s string) (renditionPolicy, error) {
	switch s {
	case "", "random":
		return renditionPolicy{kind: policyRandom}, nil
	case "lowest":
		return renditionPolicy{kind: policyLowest}, nil
	case "highest":
		return renditionPolicy{kind: policyHighest}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return renditionPolicy{}, fmt.Errorf("rendition %q: want lowest, highest, random or an index from 0: %w", s, ErrRendition)
	}
	return renditionPolicy{kind: policyIndex, index: n}, nil
}

// choose returns the index of the rendition to play among renditions with
// the given bandwidths (document order). Ties go to the first listed.
func (p renditionPolicy) choose(bandwidths []int64, rng *rand.Rand) (int, error) {
	n := len(bandwidths)
	if n == 0 {
		return 0, fmt.Errorf("no renditions to choose from: %w", ErrRendition)
	}
	switch p.kind {
	case policyLowest, policyHighest:
		best := 0
		for i, bw := range bandwidths {
			if p.kind == policyLowest && bw < bandwidths[best] || p.kind == policyHighest && bw > bandwidths[best] {
				best = i
			}
		}
		return best, nil
	case policyIndex:
		if p.index >= n {
			return 0, fmt.Errorf("rendition %d: the stream has %d (0 to %d): %w", p.index, n, n-1, ErrRendition)
		}
		return p.index, nil
	default:
		return rng.IntN(n), nil
	}
}
