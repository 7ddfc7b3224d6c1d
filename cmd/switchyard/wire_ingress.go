package main

// newIngressComponent builds the ingress node component from env, or returns nil
// when it is switched off. Owned by the ingress work; see components.go.
func newIngressComponent(env *nodeEnv) (component, error) {
	return nil, nil
}
