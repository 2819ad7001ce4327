// Package aggregate turns a round's participant updates into the next
// global model: FedAvg and its server-optimizer variants, Byzantine-robust
// rules, update validation, central differential privacy and an RDP
// privacy accountant. Every result that goes into a round commitment is
// bit-reproducible, so an auditor replaying the round gets the same bytes.
//
// # Caller's contract
//
//  1. Read the rule from the job file as a Spec (rule name + parameters),
//     check it with Spec.Validate, and record Spec.Canonical in the round
//     commitment (ParseCanonical turns it back into a Spec for an auditor).
//  2. Build the aggregator once per job with New(spec, dim) and, after a
//     restart or in an auditor, restore the server optimizer state saved
//     after the previous round with SetState.
//  3. Check every opened update with Validator.Check (shape, finite values,
//     L2 norm bound, optional clipping). A *RejectError names the reason
//     ("shape", "non-finite", "norm"); record it and leave the update out.
//  4. Add the accepted updates in strictly ascending Participant order (the
//     byte order of the peer ID strings). This order fixes every sum.
//     Add folds a streaming rule's update into O(dim) memory and returns;
//     the caller may reuse Update.Delta at once. AddBatch takes several
//     consecutive updates (bit-identical to adding them one by one) and
//     folds them in one pass over the accumulator: with models larger than
//     the CPU cache this is what keeps FedAvg at memory-copy speed, for
//     batch*dim floats of caller buffers (8 is a good batch). Rules that
//     report Streaming() == false (median, trimmedmean, krum, multikrum)
//     copy every update until Finish. Add may itself refuse an update with
//     a *RejectError ("examples" for zero NumExamples under an
//     example-weighted rule, "non-finite" where it scans the values):
//     record it like a validation failure; the round goes on. Other Add
//     errors (order, duplicates) are the caller's bugs.
//  5. With central DP configured (dp_clip > 0 and dp_noise_multiplier > 0),
//     draw a fresh 32-byte noise seed, call SetNoiseSeed, and record the
//     seed in the commitment after the round.
//  6. Call Finish(global, dst). It writes the new global model to dst,
//     advances the server optimizer and resets the round (also on error).
//     ErrNoUpdates means the round had no accepted updates.
//  7. Save State() with the round (it is deterministic bytes) so that the
//     next round, a restarted coordinator and an auditor start from it.
//
// # Rules
//
// Let d_i be update i's delta, w_i its weight and x the global model.
//
//   - fedavg: x + sum_i w_i d_i / sum_i w_i with w_i = NumExamples
//     (McMahan et al. 2017).
//   - fedavgm (eta, momentum): m = momentum*m + d; x + eta*m, d the FedAvg
//     mean (Hsu et al. 2019, as Flower's FedAvgM).
//   - fedadam, fedyogi, fedadagrad (eta, eta_l, beta1, beta2, tau): Reddi et
//     al. 2021, Algorithm 2, on d the FedAvg mean, without bias correction:
//     m = beta1*m + (1-beta1)*d; v = beta2*v + (1-beta2)*d^2 (Adam),
//     v = v - (1-beta2)*d^2*sign(v-d^2) (Yogi), v = v + d^2 (Adagrad);
//     x + eta*m/(sqrt(v)+tau). m starts at 0 and v at tau^2. Defaults are
//     Flower's. eta_l is the clients' learning rate: it is recorded in the
//     description but used by participants, not here.
//   - median: coordinate-wise median (mean of the two middle values for an
//     even count) (Yin et al. 2018). The robust rules ignore NumExamples
//     (a Byzantine participant could claim any number), reject non-finite
//     values in Add, and order values by the IEEE total order (-0 < +0).
//   - trimmedmean (beta): coordinate-wise mean after dropping the
//     floor(beta*n) smallest and largest values (Yin et al. 2018).
//   - krum (f), multikrum (f, m): score each update by the sum of squared
//     distances to its n-f-2 nearest others; Krum takes the best update,
//     Multi-Krum the unweighted mean of the m best, chosen in one pass,
//     ties going to the earlier participant (Blanchard et al. 2017). They
//     need n >= 2f+3.
//
// All FedAvg-family rules accept dp_clip and dp_noise_multiplier. With
// dp_clip > 0 every update is clipped to that L2 norm and weighted 1 (an
// example-weighted sum has no bounded sensitivity); with
// dp_noise_multiplier > 0 as well, N(0, (dp_noise_multiplier*dp_clip)^2)
// is added to each coordinate of the sum before division by the number of
// updates (DP-FedAvg, McMahan et al. 2018). The server optimizer then acts
// on the noisy mean, which is post-processing and costs no privacy.
//
// # Bit-reproducibility
//
// Sums over updates run in participant order into float64 accumulators,
// element by element, so splitting the model into chunks for several
// goroutines cannot change any bit (tests vary chunk size and goroutine
// count). Every product that feeds an addition is written float64(a*b) + c,
// which the Go specification forbids the compiler to fuse into an FMA.
// Reductions inside one vector (norms, Krum distances) use a fixed order:
// coordinate c goes to lane c%8, lanes sum in coordinate order and combine
// as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)). The fold acc += w*x runs in an
// SSE2 assembly kernel on amd64 (CVTPS2PD, MULPD, ADDPD: the same two
// roundings per element as the Go loop) and in Go with -tags noasm or
// purego or on other architectures; a test compares them bit for bit on
// subnormal, huge and signed-zero inputs. Only gonum kernels that round
// once per element are used (floats.Scale, ScaleTo, Add, MulTo, DivTo): their
// assembly and pure-Go (-tags noasm) versions give identical bits, which a
// golden-hash test checks under both builds. gonum's AddScaled is not used:
// its pure-Go loop y[i] += a*x[i] may be fused into an FMA on arm64 or with
// GOAMD64=v3. The DP noise uses the ChaCha8 generator of math/rand/v2, the
// Marsaglia polar method and an FMA-free port of fdlibm's log, never
// math.Log (which has assembly on amd64).
//
// # Optimizer state format
//
// State returns, all integers little-endian:
//
//	"floeagg\x01"            8-byte magic and version
//	uint32 L, L bytes        the canonical rule description
//	uint64 dim               parameters per vector
//	uint32 k                 number of vectors: 0 (fedavg and robust
//	                         rules), 1 (fedavgm: m), 2 (adaptive: m, v)
//	k*dim float64            the vectors, one after another
//
// SetState accepts exactly this, for the same rule and dim, with finite
// values; anything else is an error and leaves the state unchanged.
//
// # Privacy accounting
//
// Epsilon reports the (epsilon, delta) guarantee of T rounds of the
// Poisson-sampled Gaussian mechanism at rate q and noise multiplier sigma
// from its Rényi DP (Mironov, Talwar and Zhang 2019, "Rényi Differential
// Privacy of the Sampled Gaussian Mechanism"), with log A_alpha computed as
// in TensorFlow Privacy's compute_rdp for integer and fractional orders.
// The conversion to (epsilon, delta) is the improved one TensorFlow Privacy
// (dp_accounting) and Opacus use now (Canonne, Kamath and Steinke 2020;
// Balle et al. 2020): eps = rdp + log1p(-1/alpha) - log(delta*alpha)/(alpha-1),
// minimised over the orders DefaultOrders, not the classic
// rdp - log(delta)/(alpha-1). SigmaFor inverts it by bisection.
package aggregate
