package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netnsNet is a test network of Linux network namespaces: a bridge in a hub
// namespace and one namespace per host, each joined to the bridge by a veth
// pair (eth0 in the host, vI in the hub). Names start with floe<PID>, so
// parallel runs do not collide; every namespace is deleted at cleanup.
type netnsNet struct {
	t      *testing.T
	prefix string
	hub    string
	hosts  int
	shaped bool     // the first link tried which qdisc the kernel has
	shape  []string // the qdisc put on each hub-side veth (nil: none)
	lossy  *bool    // whether hosts drop packets (nftables), once the first host tried
}

// lossPercent is the share of packets each host drops on arrival where the
// kernel has no netem but nft(8) can drop at random (nftables numgen).
const lossPercent = 1

// netnsRun runs a command (ip, tc) and returns its error with its output.
func netnsRun(argv ...string) error {
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetnsNet makes the hub namespace and its bridge, or skips the test
// where namespaces cannot be made (not root, no ip(8), no permission).
func newNetnsNet(t *testing.T) *netnsNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("multi-host test: needs root to create network namespaces (ip netns)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("multi-host test: no ip(8) (iproute2) to create network namespaces")
	}
	n := &netnsNet{t: t, prefix: fmt.Sprintf("floe%d", os.Getpid())}
	n.hub = n.prefix + "-hub"
	exec.Command("ip", "netns", "del", n.hub).Run() // a leftover of a run with this PID
	if err := netnsRun("ip", "netns", "add", n.hub); err != nil {
		t.Skipf("multi-host test: cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.hub).Run() })
	for _, args := range [][]string{{"link", "add", "br0", "type", "bridge"}, {"link", "set", "br0", "up"}} {
		if err := netnsRun(append([]string{"ip", "-n", n.hub}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// host makes a namespace named floe<PID>-name on the bridge and returns it
// and its IPv4 address.
func (n *netnsNet) host(name string) (ns, ip string) {
	n.t.Helper()
	ns, ip = n.prefix+"-"+name, fmt.Sprintf("10.77.0.%d", n.hosts+1)
	veth := fmt.Sprintf("v%d", n.hosts)
	n.hosts++
	exec.Command("ip", "netns", "del", ns).Run()
	if err := netnsRun("ip", "netns", "add", ns); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	cmds := [][]string{
		{"ip", "-n", n.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "-n", n.hub, "link", "set", veth, "master", "br0", "up"},
		{"ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
	}
	for _, c := range cmds {
		if err := netnsRun(c...); err != nil {
			n.t.Fatal(err)
		}
	}
	n.shapeLink(veth)
	n.dropIn(ns)
	return ns, ip
}

// dropIn makes host namespace ns drop lossPercent% of the packets it
// receives, at random (nftables numgen), when the links have no netem
// (which adds its own loss) and nft(8) is installed; the first host finds
// out and says so.
func (n *netnsNet) dropIn(ns string) {
	n.t.Helper()
	if (n.shape != nil && n.shape[0] == "netem") || (n.lossy != nil && !*n.lossy) {
		return
	}
	nft := func(args ...string) error {
		return netnsRun(append([]string{"ip", "netns", "exec", ns, "nft"}, args...)...)
	}
	err := nft("add", "table", "inet", "floe")
	if err == nil {
		err = nft("add", "chain", "inet", "floe", "in", "{ type filter hook input priority 0; }")
	}
	if err == nil {
		err = nft("add", "rule", "inet", "floe", "in", "numgen", "random", "mod", "100", "<", strconv.Itoa(lossPercent), "counter", "drop")
	}
	if err == nil {
		n.t.Cleanup(func() {
			out, _ := exec.Command("ip", "netns", "exec", ns, "nft", "list", "chain", "inet", "floe", "in").Output()
			if m := regexp.MustCompile(`counter packets (\d+)`).FindSubmatch(out); m != nil {
				n.t.Logf("%s dropped %s packets", ns, m[1])
			}
		})
	}
	if n.lossy == nil {
		ok := err == nil
		n.lossy = &ok
		if ok {
			n.t.Logf("links: every host drops %d%% of the packets it receives, at random (nftables)", lossPercent)
		} else {
			n.t.Logf("no packet loss added (no netem, and nft cannot drop: %v)", err)
		}
		return
	}
	if err != nil {
		n.t.Fatal(err)
	}
}

// shapeLink puts latency and loss (netem) on a hub-side veth, the way to
// its host, so every packet between two hosts gets them once. Where the
// kernel has no netem it puts a rate limit (tbf) instead, or nothing; the
// first link finds out which, and says so.
func (n *netnsNet) shapeLink(veth string) {
	n.t.Helper()
	tc := func(q []string) error {
		return netnsRun(append([]string{"ip", "netns", "exec", n.hub, "tc", "qdisc", "add", "dev", veth, "root"}, q...)...)
	}
	if n.shaped {
		if n.shape != nil {
			if err := tc(n.shape); err != nil {
				n.t.Fatal(err)
			}
		}
		return
	}
	n.shaped = true
	netem := []string{"netem", "delay", "20ms", "loss", "1%"}
	tbf := []string{"tbf", "rate", "20mbit", "burst", "64kb", "latency", "200ms"}
	if err := tc(netem); err == nil {
		n.shape = netem
		n.t.Log("links: netem delay 20ms loss 1% on the way to every host")
	} else if err2 := tc(tbf); err2 == nil {
		n.shape = tbf
		n.t.Logf("netem unavailable (%v): no added latency; links rate-limited to 20 Mbit/s (tbf) instead", err)
	} else {
		n.t.Logf("netem unavailable (%v): running without added latency/loss (no tbf either: %v)", err, err2)
	}
}

// inNetns runs f on an OS thread moved into network namespace ns, so the
// processes f starts (startProc, floeRun: they fork on the calling thread)
// live in ns. The thread returns to its namespace afterwards; if it cannot,
// it stays locked and ends with the test's goroutine.
func inNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("setns %s: %v", ns, err)
	}
	defer func() {
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	f()
}

// addrOn waits until a process wrote its addr file and returns the line on ip.
func addrOn(t *testing.T, file, ip string, d time.Duration) string {
	t.Helper()
	var addr string
	waitFor(t, "addr file "+filepath.Base(file), d, func() bool {
		b, _ := os.ReadFile(file)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "/ip4/"+ip+"/") {
				addr = l
			}
		}
		return addr != ""
	})
	return addr
}

// TestCLINetnsMultiHost runs four storage nodes, a coordinator and three
// participants as floe processes, each in its own network namespace on a
// bridge (with netem latency and loss where the kernel has it, else a tbf
// rate limit and 1% of packets dropped on arrival with nftables where
// nft(8) is installed, as .ci/run does), cuts one storage node off the network after round 1
// committed, and requires the job to finish every round with every
// submission accepted, its chain to pass `floe audit` from another
// namespace while the node is still cut off, and the node to hold nothing
// of the last model. It skips where namespaces cannot be created (not
// root, no ip(8), no permission) and with -short.
func TestCLINetnsMultiHost(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-host test (processes in separate network namespaces): skipped with -short")
	}
	start := time.Now()
	lan := newNetnsNet(t)
	blobCLIBinary(t) // built before any thread enters a namespace
	deadline := start.Add(3 * time.Minute)
	left := func() time.Duration { return time.Until(deadline) }
	dir := t.TempDir()

	const nodes = 4
	nodeNS := make([]string, nodes)
	nodeIP := make([]string, nodes)
	for i := range nodes {
		nodeNS[i], nodeIP[i] = lan.host(fmt.Sprintf("n%d", i))
		inNetns(t, nodeNS[i], func() {
			startProc(t, "storage-node", "--key", filepath.Join(dir, fmt.Sprintf("n%d.key", i)), "--data", filepath.Join(dir, fmt.Sprintf("n%d", i)),
				"--listen", "/ip4/"+nodeIP[i]+"/tcp/0", "--addr-file", filepath.Join(dir, fmt.Sprintf("n%d.addrs", i)))
		})
	}
	addrs := make([]string, nodes)
	for i := range nodes {
		addrs[i] = addrOn(t, filepath.Join(dir, fmt.Sprintf("n%d.addrs", i)), nodeIP[i], left())
	}
	com := filepath.Join(dir, "committee")
	writeCommittee(t, com, addrs)

	audKey := filepath.Join(dir, "auditor.hpke")
	pub, errOut, code := floeRun(t, "keygen", "--hpke", "--out", audKey)
	if code != 0 {
		t.Fatalf("keygen --hpke: exit %d: %s", code, errOut)
	}
	job := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(job, []byte(e2eJob+"auditors: [{name: auditor, public_key: "+strings.TrimSpace(pub)+"}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	coordNS, coordIP := lan.host("coord")
	headFile := filepath.Join(dir, "head")
	var coord *proc
	inNetns(t, coordNS, func() {
		coord = startProc(t, "coordinator", "--key", filepath.Join(dir, "coord.key"), "--data", filepath.Join(dir, "coord"),
			"--committee", com, "--job", job, "--listen", "/ip4/"+coordIP+"/tcp/0", "--addr-file", filepath.Join(dir, "coord.addrs"),
			"--head-file", headFile, "--eval-dataset", "synthetic", "--eval-clients", "3", "--eval-data-seed", "3")
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("coordinator stdout:\n%s", coord.stdout.String())
		}
	})
	caddr := addrOn(t, filepath.Join(dir, "coord.addrs"), coordIP, left())
	var parts []*proc
	for i := range 3 {
		ns, ip := lan.host(fmt.Sprintf("p%d", i))
		inNetns(t, ns, func() {
			parts = append(parts, startProc(t, "participant", "--key", filepath.Join(dir, fmt.Sprintf("p%d.key", i)), "--coordinator", caddr,
				"--committee", com, "--listen", "/ip4/"+ip+"/tcp/0", "--dataset", "synthetic", "--clients", "3", "--index", fmt.Sprint(i), "--data-seed", "3"))
		})
	}
	auditNS, _ := lan.host("audit")

	waitFor(t, "round 1 committed", left(), func() bool { return strings.Contains(coord.stdout.String(), "round 1 ok") })
	const cut = nodes - 1
	if err := netnsRun("ip", "-n", nodeNS[cut], "link", "set", "eth0", "down"); err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: %d round(s) committed; storage node %d (%s) cut off", time.Since(start).Round(time.Millisecond),
		strings.Count(coord.stdout.String(), " ok head "), cut, nodeIP[cut])
	waitFor(t, fmt.Sprintf("the job to finish with storage node %d cut off", cut), left(), func() bool { return strings.Contains(coord.stdout.String(), "job done") })
	t.Logf("%v: job done", time.Since(start).Round(time.Millisecond))
	out := coord.stdout.String()
	for r := 1; r <= 5; r++ {
		if n := strings.Count(out, fmt.Sprintf("round %d ok head", r)); n != 1 {
			t.Fatalf("round %d committed %d times:\n%s", r, n, out)
		}
	}
	// Every submission of every round accepted: nobody waited on the
	// cut-off node until the round's deadline dropped them.
	if n := strings.Count(out, "accepted 3/3"); n != 5 {
		t.Fatalf("%d of 5 rounds accepted all 3 submissions:\n%s", n, out)
	}
	waitFor(t, "the participants to exit", left(), func() bool {
		for _, p := range parts {
			select {
			case <-p.done:
			default:
				return false
			}
		}
		return true
	})
	for i, p := range parts {
		if p.err != nil {
			t.Fatalf("participant %d: %v\n%s", i, p.err, tail(p.stderr.String(), 2000))
		}
	}

	// The audit, from its own namespace, with the node still cut off.
	var audit, list, stat string
	inNetns(t, auditNS, func() {
		audit, errOut, code = floeRun(t, "audit", "--committee", com, "--head", headFile, "--key", audKey)
		if code != 0 || !strings.Contains(audit, "verified") {
			t.Fatalf("audit: exit %d\n%s%s", code, audit, errOut)
		}
		t.Logf("%v: audit passed", time.Since(start).Round(time.Millisecond))
		if list, errOut, code = floeRun(t, "models", "list", "--committee", com, "--head", headFile); code != 0 {
			t.Fatalf("models list: exit %d: %s", code, errOut)
		}
		var m5 string
		for _, l := range strings.Split(list, "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "5" {
				m5 = f[1]
			}
		}
		// The cut was real: the cut-off node holds nothing of round 5's model.
		if stat, errOut, code = floeRun(t, "blob", "stat", "--committee", com, "--json", "--", m5); code != 0 {
			t.Fatalf("blob stat %s: exit %d: %s", m5, code, errOut)
		}
	})
	var st struct {
		Valid int `json:"valid"`
		Nodes []struct {
			Index int    `json:"index"`
			State string `json:"state"`
		} `json:"nodes"`
	}
	err := json.Unmarshal([]byte(stat), &st)
	cutValid := false
	for _, n := range st.Nodes {
		cutValid = cutValid || (n.Index == cut && n.State == "valid")
	}
	if err != nil || st.Valid != nodes-1 || cutValid {
		t.Fatalf("round 5's model on the committee (%v): want %d valid slivers, none on node %d:\n%s", err, nodes-1, cut, stat)
	}
	t.Logf("%v: done", time.Since(start).Round(time.Millisecond))
}
