package speech

import (
	"fmt"
	"sort"
	"strings"
)

// Totals are the counts of a group of utterances.
type Totals struct {
	Utterances, Speakers int
	Seconds              float64 // all audio
	TranscribedSeconds   float64 // audio with a phoneme transcript (usable by the recognizer)
	NarrowbandSeconds    float64 // audio recorded at 8 kHz or less
}

// Totals groups the utterances by key (e.g. by split: func(u) { return u.Split }) and counts
// each group.
func (m *Manifest) Totals(key func(u *Utterance) string) map[string]Totals {
	out := map[string]Totals{}
	speakers := map[string]map[string]bool{}
	for i := range m.Utterances {
		u := &m.Utterances[i]
		k := key(u)
		t := out[k]
		t.Utterances++
		t.Seconds += u.Seconds
		if len(u.Phonemes) > 0 {
			t.TranscribedSeconds += u.Seconds
		}
		if u.Narrowband {
			t.NarrowbandSeconds += u.Seconds
		}
		if speakers[k] == nil {
			speakers[k] = map[string]bool{}
		}
		speakers[k][u.Speaker] = true
		t.Speakers = len(speakers[k])
		out[k] = t
	}
	return out
}

// Summary is the corpus in tables: minutes of audio (all, transcribed, narrowband) by split,
// by source and by speaker, then what was skipped and why.
func (m *Manifest) Summary() string {
	var b strings.Builder
	all := m.Totals(func(*Utterance) string { return "all" })["all"]
	fmt.Fprintf(&b, "speech corpus: %d utterances, %.2f h (%.2f h transcribed, %.2f h narrowband) from %d speakers/voices\n",
		all.Utterances, all.Seconds/3600, all.TranscribedSeconds/3600, all.NarrowbandSeconds/3600, all.Speakers)
	table := func(title string, key func(*Utterance) string) {
		groups := m.Totals(key)
		names := make([]string, 0, len(groups))
		for k := range groups {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintf(&b, "%-44s %6s %8s %9s %11s %10s\n", "by "+title, "utts", "speakers", "minutes", "transcribed", "narrowband")
		for _, k := range names {
			t := groups[k]
			fmt.Fprintf(&b, "  %-42s %6d %8d %9.2f %11.2f %10.2f\n", k, t.Utterances, t.Speakers,
				t.Seconds/60, t.TranscribedSeconds/60, t.NarrowbandSeconds/60)
		}
	}
	table("split", func(u *Utterance) string { return u.Split })
	table("source", func(u *Utterance) string { return u.Source })
	table("speaker (split)", func(u *Utterance) string { return u.Speaker + " (" + u.Split + ")" })
	for _, s := range m.Skipped {
		fmt.Fprintf(&b, "skipped %s: %s\n", s.What, s.Reason)
	}
	return b.String()
}
