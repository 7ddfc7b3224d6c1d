package main

// newServicesComponent builds the services node component from env, or returns nil
// when it is switched off. Owned by the services work; see components.go.
func newServicesComponent(env *nodeEnv) (component, error) {
	return nil, nil
}
