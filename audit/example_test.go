package audit_test

import (
	"fmt"
	"os"

	"github.com/floe-fl/floe/audit"
)

// ExampleReport_WriteText shows the report a failed audit prints: the
// per-round table, then the verdict naming the round, the check and the
// evidence. Real reports come from audit.Run.
func ExampleReport_WriteText() {
	fail := &audit.CheckError{Round: 2, Check: audit.CheckModel, Detail: "the replayed aggregation gives another output model",
		Expected: "q1Z3bUy1Q0W8yT3tZl0pX7lq2n8aJ0xv4yq1m0n9b2c", Found: "Hk3o9Vx2c1Lr0Qe7Tz5Yw4Ua8Pb6Sd3Fg2Jh1Kl0Mn9"}
	rep := &audit.Report{
		Head: "Zk9...", Job: "Nq3...", JobBlob: "Ah1...", Coordinator: "12D3KooW...", Privacy: "plain",
		Rounds: []audit.Row{
			{Round: 1, Status: "ok", Submissions: 4, Accepted: 4, Rule: "fedavg(dp_clip=0,dp_noise_multiplier=0)", Verdict: audit.VerdictVerified},
			{Round: 2, Status: "ok", Submissions: 4, Accepted: 3, Rejections: []string{"norm above bound: 1"}, Rule: "fedavg(dp_clip=0,dp_noise_multiplier=0)", Verdict: audit.VerdictFailed},
			{Round: 3, Status: "ok", Submissions: 4, Accepted: 4, Rule: "fedavg(dp_clip=0,dp_noise_multiplier=0)", Verdict: audit.VerdictNotChecked},
		},
		Verdict: audit.VerdictFailed, Failure: fail,
	}
	if err := rep.WriteText(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// chain head  Zk9...
	// job         Nq3... (record Ah1...)
	// coordinator 12D3KooW...
	// privacy     plain
	//
	// ROUND  STATUS  SUBMISSIONS  ACCEPTED  RULE                                     VERDICT      SKIPPED  REJECTIONS
	// 1      ok      4            4         fedavg(dp_clip=0,dp_noise_multiplier=0)  verified     -        -
	// 2      ok      4            3         fedavg(dp_clip=0,dp_noise_multiplier=0)  failed       -        norm above bound: 1
	// 3      ok      4            4         fedavg(dp_clip=0,dp_noise_multiplier=0)  not checked  -        -
	//
	// VERDICT: FAILED: audit: round 2: model check failed: the replayed aggregation gives another output model (expected q1Z3bUy1Q0W8yT3tZl0pX7lq2n8aJ0xv4yq1m0n9b2c, found Hk3o9Vx2c1Lr0Qe7Tz5Yw4Ua8Pb6Sd3Fg2Jh1Kl0Mn9)
}
