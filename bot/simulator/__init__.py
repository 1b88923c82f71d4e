"""bot/simulator"""
