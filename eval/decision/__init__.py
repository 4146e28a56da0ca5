"""Decision-ready evaluation: intervals, operating points chosen on dev, contrast pairs, bias AUCs, calibration."""
