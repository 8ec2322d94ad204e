// Package suggest finds the "did you mean" of a misspelt name: the nearest
// known name by edit distance, when it is close enough to be a typo.
package suggest

import "strings"

// Nearest returns the candidate nearest to name by edit distance (case
// folded) when it is close enough to be a typo: at most 1 edit for names
// up to 4 runes, 2 up to 12, else 3. It returns "" when none is.
func Nearest(name string, candidates []string) string {
	best, bestD := "", -1
	n := strings.ToLower(name)
	for _, c := range candidates {
		d := editDistance(n, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 3
	switch l := len([]rune(name)); {
	case l <= 4:
		limit = 1
	case l <= 12:
		limit = 2
	}
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// editDistance is the optimal-string-alignment distance of a and b (runes):
// insertions, deletions, substitutions and transpositions of neighbours
// ("nmae" → "name") each cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
