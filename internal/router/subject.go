package router

import "github.com/bulwarkhq/bulwark/internal/limit"

// DeploymentSubject is the limit.Subject that keeps traffic to d under the
// provider's quota: its RPM, TPM and MaxParallel under "deploy:<name>". An
// Attempt admits it through a limit.Gate before calling upstream and, when
// refused, returns an error wrapping ErrSkipDeployment.
func DeploymentSubject(d Deployment) limit.Subject {
	return limit.Subject{ID: "deploy:" + d.Name, RPM: d.RPM, TPM: d.TPM, MaxParallel: d.MaxParallel}
}
