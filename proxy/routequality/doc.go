// Package routequality holds each rule's quality loop: the settings it
// declares (quality target, audits, second opinions), the samples its
// traffic produced (scored drafts, some compared with the verifier's
// answer), the score learned from them and the threshold in effect.
//
// A Route is shared by every request of its rule and outlives rules
// reloads (Registry keeps it while the rule's draft, verifier, gate and
// second opinions stay the same). Standalone, a proxy calibrates its routes
// itself; in a cluster the operator aggregates every pod's samples and
// hands each pod the same Calibration (SetCalibration).
//
// # The score
//
// Each draft is described by a fixed feature vector (Vector): the logit of
// the gate's score, the log of every gate signal's score (0 when the signal
// did not apply or found nothing wrong), the draft's length, second-opinion
// agreement and whether a signal vetoed the draft. A route scores drafts
// with a logistic model over it:
//
//   - before anything is learned, the prior model (PriorModel): the gate's
//     own score, plus, with second opinions, ±AgreementWeight for agreement
//     and disagreement (agreement of independent models is strong evidence
//     that a draft is right, disagreement that it may not be). Without
//     second opinions and without a learned model, Decide returns the gate's
//     own verdict while the configured threshold holds;
//   - once MinSamples labels are in (and Learn), a model fitted on the
//     labelled samples, weighted by Mass/LabelProb (the judged disputes
//     weighing for every dispute) and pulled toward the prior. The weights of the gate's score, of every signal and of
//     agreement are held >= 0: a signal can only lower a draft's score where
//     it says something is wrong, so one that does not fire, fires at
//     random or fires more on good drafts ends at weight 0 and moves nothing
//     (no dead weight). A veto caps the score at the gate's.
//
// # The threshold
//
// Calibrate picks the threshold on the score in effect with
// calibrate.Choose: the loosest one whose one-sided lower confidence bound
// on the share of answers at least as good as the verifier's meets the
// target, among those whose accepted drafts are shown better than the
// escalated ones. A score that separates nothing escalates everything
// (reason escalate-all, threshold calibrate.Never); Bypass then skips the
// draft but for a share Explore kept for learning, whose samples weigh
// 1/Explore. Until MinSamples labels, the configured threshold holds (or,
// with coldStart verifier, everything is escalated). A route that
// calibrates itself does so every RefitEvery new labels, fitting without
// holding its lock.
package routequality
