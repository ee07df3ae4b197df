//! Headless Chromium, driven through chromedriver (WebDriver) at a phone's size.
