package upstream

import "math"

// Rendezvous (highest random weight) hashing: Thaler and Ravishankar, "A
// Name-Based Mapping Scheme for Rendezvous" (1996); the weighted score is
// Schindelhauer and Schomaker's -w/ln(u). Every member scores every key;
// the highest score wins. A member that leaves loses only the keys it
// won; each of them goes to its second-best member, and no other key moves.
// The hash is FNV-1a (not maphash, whose seed differs per process) so that
// every edge replica maps a key to the same shield.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv64a(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func keyHash(key string) uint64 { return fnv64a(key) }

// mix is the splitmix64 finaliser: it spreads the combination of a key
// hash and a member seed over all 64 bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// score is member o's rendezvous score for a key hash: w / -ln(u), u the
// member-and-key hash mapped into (0, 1). Equal weights order exactly as
// the raw hashes do.
func score(o *Origin, kh uint64) float64 {
	h := mix(kh ^ o.seed)
	u := (float64(h>>11) + 0.5) / (1 << 53) // (0, 1), never 0 or 1
	return float64(o.Weight) / -math.Log(u)
}

// sortByScore orders a by descending score for kh, ties broken by
// configured order (insertion sort: a set holds a handful of members).
func sortByScore(a []*Origin, kh uint64) {
	if len(a) < 2 {
		return
	}
	var buf [16]float64
	var sc []float64
	if len(a) <= len(buf) {
		sc = buf[:len(a)]
	} else {
		sc = make([]float64, len(a))
	}
	for i, o := range a {
		sc[i] = score(o, kh)
	}
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && (sc[j] > sc[j-1] || (sc[j] == sc[j-1] && a[j].index < a[j-1].index)); j-- {
			a[j], a[j-1] = a[j-1], a[j]
			sc[j], sc[j-1] = sc[j-1], sc[j]
		}
	}
}
