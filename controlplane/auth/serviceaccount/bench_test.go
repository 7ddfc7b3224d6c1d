package serviceaccount

import (
	"context"
	"testing"
	"time"
)

// BenchmarkIssue measures signing one bound token (ES256).
func BenchmarkIssue(b *testing.B) {
	f := newFixture(&testing.T{})
	req := Request{Namespace: "team", ServiceAccount: Ref{"builder", "sa-uid"}, Pod: &Ref{"web-0", "pod-uid"}, Lifetime: time.Hour}
	for b.Loop() {
		if _, _, err := f.issuer.Issue(req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkValidate measures validating one token: parse, ES256 verify,
// claims, and the (here in-memory) lookups of account and pod.
func BenchmarkValidate(b *testing.B) {
	f := newFixture(&testing.T{})
	tok := f.podToken(&testing.T{})
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.val.Validate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
