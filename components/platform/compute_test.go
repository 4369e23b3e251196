package platform_test

import (
	"strings"
	"testing"
)

// TestComputePerStack: the application is served on the stack's domain over
// HTTPS when a certificate can exist, behind the regional WAF, and protected
// from deletion in prod.
func TestComputePerStack(t *testing.T) {
	for _, tc := range stackKinds {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlatform(t, tc.stack, tc.cfg)
			rec, outputs := r.rec, r.outputs
			underPlatform(t, rec, "cats:compute:Compute")
			if !strings.HasPrefix(outputs["appUrl"], tc.wantURL) {
				t.Errorf("appUrl %q, want %s…", outputs["appUrl"], tc.wantURL)
			}

			https := false
			for _, l := range rec.ByType("aws:lb/listener:Listener") {
				if l.Str("protocol") == "HTTPS" {
					https = true
				}
			}
			if https != (tc.wantZone != "") {
				t.Errorf("HTTPS listener %v, want it exactly when a domain (and so a certificate) exists", https)
			}
			alb := rec.One(t, "aws:lb/loadBalancer:LoadBalancer")
			if alb.Input("enableDeletionProtection").BoolValue() != tc.prod {
				t.Errorf("ALB deletion protection %v, want %v", alb.Input("enableDeletionProtection").BoolValue(), tc.prod)
			}
			waf := map[string]bool{}
			for _, a := range rec.ByType("aws:wafv2/webAclAssociation:WebAclAssociation") {
				waf[a.Str("resourceArn")] = true
			}
			if !waf[alb.Outputs["arn"].StringValue()] {
				t.Error("the ALB is not associated with the regional WAF ACL (seed §7 WAF)")
			}
		})
	}
}
