package mailgate

import (
	"fmt"
	"testing"
)

func TestIDSetKeepsRunsOfDecimalIDs(t *testing.T) {
	var s idSet
	for _, id := range []string{"5", "3", "4", "10", "8", "9", "1", "7", "AAMkAGI2=", "007"} {
		s.add(id)
	}
	want := []idRun{{1, 1}, {3, 5}, {7, 10}}
	if fmt.Sprint(s.runs) != fmt.Sprint(want) {
		t.Errorf("runs %v, want %v", s.runs, want)
	}
	for _, id := range []string{"1", "3", "4", "5", "7", "8", "9", "10", "AAMkAGI2=", "007"} {
		if !s.has(id) {
			t.Errorf("%s missing", id)
		}
	}
	for _, id := range []string{"0", "2", "6", "11", "7x", "", "AAMkAGI3="} {
		if s.has(id) {
			t.Errorf("%q present", id)
		}
	}
	s.add("2")
	s.add("6")
	if len(s.runs) != 1 || s.runs[0] != (idRun{1, 10}) {
		t.Errorf("after filling the gaps: %v, want one run 1-10", s.runs)
	}
}

func TestIDSetOfAscendingUIDsStaysSmall(t *testing.T) {
	var s idSet
	for i := 1; i <= 100000; i++ {
		s.add(fmt.Sprint(i))
	}
	if len(s.runs) != 1 || len(s.other) != 0 {
		t.Errorf("%d runs and %d others for 100,000 ascending UIDs", len(s.runs), len(s.other))
	}
}
