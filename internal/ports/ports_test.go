package ports

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	got, err := ParseList(" 8000, ,5432")
	if err != nil || len(got) != 2 || got[0] != 8000 || got[1] != 5432 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"80a", "0", "70000", "-1"} {
		if _, err := ParseList(bad); err == nil || !strings.Contains(err.Error(), "invalid port") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestCheckFindsBusyPortAndHolder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()

	res := Check("127.0.0.1", []int{busy, freePort})
	if res[0].Free || !res[1].Free {
		t.Fatalf("results %+v", res)
	}
	if _, err := os.Stat("/proc/net/tcp"); err == nil {
		if !strings.Contains(res[0].Holder, "pid "+strconv.Itoa(os.Getpid())) {
			t.Fatalf("holder %q, want this test process (pid %d)", res[0].Holder, os.Getpid())
		}
	}
}
