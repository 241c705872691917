package quality

import (
	"math"
	"testing"
)

func TestAnswerSignal(t *testing.T) {
	c := defaults(t)
	q := "A boat takes on 2 liters of water every 10 feet. The shore is 64 feet away. How much water does it take on?"
	for _, tc := range []struct {
		name, question, draft string
		score                 float64
		detail                string
	}{
		{"more precise than the data", q, "64 / 10 = 6.4 stretches, so 6.4 * 2 = 12.8 liters.\nIt takes on 12.8 liters.", 0.5, "answer more precise than the data"},
		{"whole answer", q, "64 / 10 * 2 = 12.8, about 13.\n#### 13", 1, "one answer, as precise as the data"},
		{"as precise as the data", "A lemon sells for $1.5 and a tree gives 7 lemons. How much do 3 trees earn?", "7 * 1.5 = 10.5 per tree; 3 * 10.5 = 31.5.\nThey earn $31.5.", 1, "one answer, as precise as the data"},
		{"probability", "Two dice are rolled. What is the probability of a total of at least 3?", "35 / 36 = 0.9722\nThe probability is 0.9722.", 1, "one answer, as precise as the data"},
		{"restated givens are not candidates", "Two dice are rolled. What is the probability of a total of at least 3?", "35 / 36 = 0.97\nThe probability of at least 3 is 0.9722, or 97.22%.", 1, "one answer, as precise as the data"},
		{"candidates", "It takes 1.5 minutes to peel a potato and 5 seconds to cut it. How many minutes do 60 potatoes take?", "60 * 1.5 = 90 minutes.\n#### 90 minutes or 95 minutes", 0.5, "several numbers in the final statement"},
		{"several numbers asked for", "It takes 1.5 minutes to peel a potato and 5 seconds to cut it. How long do 60 potatoes take?", "60 * 1.5 = 90 minutes, 60 * 5 = 300 seconds.\nThat is 90 minutes and 300 seconds.", 1, "one answer, as precise as the data"},
		{"prose without calculations", "Our server has 2 cores and 8 GB of memory. How many worker processes should we run?", "With 2 cores, CPU-bound work gains nothing beyond one process per core, and 8 GB leaves room.\nRun 4 workers if the work waits on I/O.", 1, "one answer, as precise as the data"},
		{"repair", "A mechanic earns $60 per truck tire and $40 per car tire. He fixes 6 truck tires on Monday and 12 car tires on Tuesday. How much more did he earn on the better day?", "6 * 60 = 360 and 12 * 40 = 480. 360 - 480 = -120. However, since this is a negative number, Tuesday was better.\n#### 120", 0.5, "patches an impossible result"},
		{"not reached by the work", "A shirt costs $12 and a hat costs $8. How much do 2 shirts and a hat cost?", "2 * 12 = 24 for the shirts, and the hat is 8.\nSo the total is $34.", 0.5, "answer not reached by the work"},
		{"reached by the work", "A shirt costs $12 and a hat costs $8. How much do 2 shirts and a hat cost?", "2 * 12 = 24 for the shirts, 24 + 8 = 32 in all.\nSo the total is $32.", 1, "one answer, as precise as the data"},
		{"three flaws", q, "64 / 10 = 6.4 stretches. However, since this is not a whole number, round.\nIt takes on 12.8 liters.", 0.125, "patches an impossible result, answer more precise than the data, answer not reached by the work"},
	} {
		r := answerSignal(view(ask(tc.question), answer(tc.draft)), c)
		if !r.applies || math.Abs(r.score-tc.score) > 1e-12 || r.detail != tc.detail {
			t.Errorf("%s: got %+v, want score %v (%s)", tc.name, r, tc.score, tc.detail)
		}
	}
	if r := answerSignal(view(ask("Tell me about Paris."), answer("It has 2 million people, or 2.1 million.")), c); r.applies {
		t.Errorf("not a word problem: got %+v, want not applicable", r)
	}
}
